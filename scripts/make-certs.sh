#!/usr/bin/env bash
# Makes a small PKI with openssl for Docker (--tlsverify) and RabbitMQ TLS:
#   make-certs.sh DIR [SERVER_NAME...]
# writes DIR/ca.pem, ca-key.pem, server.pem, server-key.pem (for the daemons; valid for each
# SERVER_NAME, an IP or a DNS name; default 127.0.0.1 and localhost) and client.pem,
# client-key.pem (for the healer). Keys are mode 600. The tests use it with loopback names;
# operators can use it for a lab, or their own CA in production.
set -euo pipefail
dir="${1:?usage: make-certs.sh DIR [SERVER_NAME...]}"; shift
names=("$@"); [[ ${#names[@]} -gt 0 ]] || names=(127.0.0.1 localhost)
mkdir -p "$dir"; cd "$dir"
san=""
for n in "${names[@]}"; do
  if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san="${san%,}"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=cloud-auto-heal test CA" \
  -keyout ca-key.pem -out ca.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=${names[0]}" -keyout server-key.pem -out server.csr >/dev/null 2>&1
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
  -extfile server.ext -out server.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=cloud-auto-heal" -keyout client-key.pem -out client.csr >/dev/null 2>&1
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
  -extfile client.ext -out client.pem >/dev/null 2>&1
rm -f server.csr client.csr server.ext client.ext ca.srl
chmod 644 ca.pem server.pem client.pem
