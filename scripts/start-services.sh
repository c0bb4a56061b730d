#!/usr/bin/env bash
# Installs what is missing and starts the local RabbitMQ and Docker engine the
# healer and its tests use. Safe to run again: it only does what is not done yet.
source "$(dirname "$0")/lib.sh"
setup_all
make_lab_image
say "RabbitMQ on 127.0.0.1:5672 (management 15672), Docker on unix:///var/run/docker.sock and tcp://127.0.0.1:2375"
