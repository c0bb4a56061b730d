/// The commented config written to a missing config path on first run.
///
/// It is the same text as `etc/auto_heal.conf` in the repository (a test checks this).
public enum ConfigTemplate {
    public static let text = #"""
        # Cloud Auto Heal configuration (/etc/auto_heal.conf).
        #
        # Read by autoheal-monitor (deploy server), autoheal-engine (control servers) and the
        # autoheal CLI; each takes --config PATH to read another file. INI syntax: `key = value`,
        # whole-line comments with # or ;, no inline comments (a password may contain #).
        # Keep this file readable by root only (chmod 600): it holds the RabbitMQ password, and the
        # daemons refuse to start when a file holding a password is readable by group or others.

        [rabbitmq]
        # Broker as host or host:port (default port 5672). Several brokers of one cluster:
        # a comma list, tried in turn.
        rabbitmq_addr = 127.0.0.1:5672
        username = guest
        password = guest
        # Instead of `password`: a file whose first line is the password (mode 600), or the
        # environment variable AUTOHEAL_RABBITMQ_PASSWORD (wins over both).
        #password_file = /etc/autoheal/rabbitmq_password
        # Accept a password in a file that group or others can read (not recommended).
        allow_insecure_config = false
        # AMQP over TLS (port 5671 unless rabbitmq_addr names one). ssl_ca is the CA that signed the
        # broker's certificate (the system store when empty); ssl_cert/ssl_key are an optional client
        # certificate. The broker's certificate is always verified; with ssl_verify_hostname its DNS
        # name must also match the name in rabbitmq_addr (rabbitmq-c checks DNS names only: write
        # brokers by name, or set it to false to accept any name the CA signed).
        amqps = false
        ssl_ca =
        ssl_cert =
        ssl_key =
        ssl_verify_hostname = true
        # Virtual host of the cloud-auto-heal exchanges and queues.
        vhost = /
        # AMQP heartbeat in seconds (0 turns heartbeats off).
        heartbeat = 30
        # Queue type: classic, or quorum (survives the loss of a broker node in a cluster).
        # Changing it for queues that already exist needs a migration: see the README.
        queue_type = classic
        # With several engines (one per control host), only one consumes at a time and another
        # takes over within seconds when it goes away. Also an argument of the queues.
        single_active_consumer = true
        # Requests the monitor keeps while the broker is away; past that the oldest are dropped
        # (and counted in the log).
        publish_backlog = 1000

        [hosts]
        # Docker hosts, comma lists. An entry is a host (Docker on docker_port), host:port,
        # or unix:///path/to/docker.sock for a local engine; NAME=ADDRESS names the host as Nova
        # does (its nova-compute `host`) when Docker is reached by another address.
        # Example: control_hosts = 10.0.0.11, 10.0.0.12, 10.0.0.13
        #          compute_hosts = compute-1=10.0.1.21, compute-2=10.0.1.22
        control_hosts = 127.0.0.1
        compute_hosts = 127.0.0.1
        # Virtual IP of the control plane (where allocation_heal runs nova-manage).
        VIP = 127.0.0.1
        # Docker Engine API port: 2375 without TLS, 2376 with. 2375 is unauthenticated (anyone who
        # reaches it is root on the host): never expose it beyond the management network.
        docker_port = 2375
        # Docker over TLS with a client certificate (dockerd --tlsverify): the CA that signed the
        # daemons' certificates, and this healer's client certificate and key (PEM). Each host's
        # name or IP in the lists above must match its daemon's certificate.
        docker_tls = false
        docker_ca =
        docker_cert =
        docker_key =
        # Deadline in seconds for one Docker API call (restarts get stop_timeout on top), and for
        # opening a connection: a host that is down or never answers delays nothing else.
        docker_timeout = 10
        docker_connect_timeout = 3
        # Requests in flight to one Docker host at once (a sweep inspects all hosts concurrently).
        docker_max_requests = 8

        [containers]
        # Container names watched on each kind of host (Kolla-Ansible names).
        control = nova_api, cinder_api, placement_api, cinder_volume, nova_conductor, nova_scheduler
        compute = nova_compute, nova_libvirt

        [schedule]
        # Seconds between the monitor's payloads; 0 turns one off.
        container_auto_heal = 60
        allocation_heal = 3600
        libvirt_suspend_wakeup = 300
        # Look for failed compute hosts (Docker API and Nova both say down: fence, evacuate): every 30
        # seconds once [nova] is set, off without it.
        #compute_host_failure = 30
        # Follow each host's Docker events (container die, oom, health_status, pause) and ask for a heal of
        # that one container the moment it happens; the periodic container_auto_heal sweep stays as
        # the safety net for anything a broken event stream missed. Also follows each compute host's
        # libvirt lifecycle events (virsh event in [libvirt] container) and asks for a wake-up of a
        # domain the moment it is suspended; the libvirt_suspend_wakeup sweep stays as the safety net.
        watch_events = true

        [engine]
        # Seconds Docker gives a container to stop on restart before killing it
        # (Kolla's own stop timeout is 60).
        stop_timeout = 60
        # Requests the engine handles at once (also the RabbitMQ prefetch): a burst of faults on
        # different containers is healed in parallel, within [policy] max_parallel_actions.
        concurrency = 32
        # The decision journal (journal.sqlite): every decision, and the restart budgets, which
        # survive an engine restart. `autoheal history` and `autoheal status` read it.
        state_dir = /var/lib/autoheal
        # Days of decisions the journal keeps; older ones are deleted at start and every hour.
        journal_days = 30

        [placement]
        # allocation_heal runs `nova-manage placement audit` / `heal_allocations` by Docker exec
        # in this container, on the VIP (or the first control host that answers).
        container = nova_api
        # Delete orphaned allocations found by the audit (audit --delete).
        delete_orphans = true
        # Create missing allocations (heal_allocations).
        heal_missing = true
        # Pass --skip-port-allocations to heal_allocations: for clouds without Neutron (without it
        # nova-manage fails with "Unknown auth type: None" there) or whose ports need no healing.
        skip_port_allocations = false
        # Deadline in seconds for one nova-manage command.
        command_timeout = 600

        [libvirt]
        # libvirt_suspend_wakeup runs virsh by Docker exec in this container on every compute host.
        container = nova_libvirt
        # Paused domains are resumed only for these reasons (as `virsh domstate --reason` prints
        # them). A domain paused by a job (migrating, saving, dumping, snapshot, post-copy,
        # starting up) is never touched; pmsuspended domains are woken.
        resume_reasons = I/O error, unknown
        # Also resume domains a person paused (`paused (user)`).
        resume_user_paused = false
        # Restart nova_compute on a host after domains there changed state: auto (yes, when one
        # did), always (after every run that found domains to wake) or never.
        restart_nova_compute = auto
        nova_compute_container = nova_compute
        # Deadline in seconds for one virsh command.
        command_timeout = 60

        [policy]
        # Restart budget per target (a container on a host, or a domain on a host): the delay
        # between actions starts at backoff_initial seconds and doubles up to backoff_max; at most
        # max_attempts actions within attempt_window seconds, then the target is quarantined (an
        # ERROR line saying it needs a person, and a notification) until it has been healthy for
        # healthy_reset seconds.
        backoff_initial = 10
        backoff_max = 300
        healthy_reset = 600
        max_attempts = 3
        attempt_window = 1800
        # No restart of an unhealthy container within this many seconds of its start (slow
        # services such as nova_scheduler come up unhealthy after a deploy).
        grace_after_start = 60
        # A container that exited cleanly (exit 0, or 143 after SIGTERM, not OOM-killed) was most
        # likely stopped on purpose and is left alone; true starts it like a crashed one.
        revive_stopped = false
        # Decide and log everything, change nothing.
        dry_run = false
        # Rolling: one container name is acted on on at most max_parallel_per_service hosts at a
        # time; the next host waits until the previous one is healthy again, at most rolling_wait
        # seconds. If it is not healthy by then, the engine stops acting on that service (on the
        # other hosts too) and notifies: restarting a whole cluster at once loses quorum.
        max_parallel_per_service = 1
        rolling_wait = 300
        # Actions running at once in all.
        max_parallel_actions = 10
        # While this file exists, healing is paused (the engine observes and logs what it would
        # do). For deploy hooks that can only touch a file; `autoheal pause` does the same.
        pause_file =

        [notify]
        # Webhook POSTed a JSON body {"text": "..."} (Slack/Mattermost style) when a target is
        # quarantined and when it recovers. Empty: no notifications. A failing webhook never
        # blocks healing.
        webhook_url =

        [nova]
        # The Nova API, for compute_host_failure. Either a Keystone v3 password login:
        #   auth = password
        #   auth_url = https://keystone.example:5000/v3
        #   username = autoheal
        #   password_file = /etc/autoheal/nova-password   (mode 600; or password =, or AUTOHEAL_NOVA_PASSWORD)
        #   user_domain_name = Default
        #   project_name = admin
        #   project_domain_name = Default
        #   region_name = RegionOne
        #   interface = internal                          (public, internal or admin: which catalog endpoint)
        # or, for a cloud without Keystone, a fixed token and endpoint:
        #   auth = token
        #   token = admin
        #   endpoint = http://127.0.0.1:8774/v2.1
        # The compute endpoint; with auth = password it overrides the catalog's.
        #endpoint =
        # CA of the Nova and Keystone endpoints when they use https (always verified).
        #ca_file =
        # Seconds for one Nova or Keystone call.
        timeout = 30

        [host_failure]
        # A compute host is down only when its Docker API does not answer AND Nova reports its
        # nova-compute service down, both for at least this many seconds. 180: well past Nova's own
        # service_down_time (60 s) and a dockerd restart, so one missed heartbeat or a brief network
        # blip never powers a host off. One side alone is a warning and a notification.
        host_down_after = 180
        # When more compute hosts than this look down at once (either side), the healer takes itself
        # for the one cut off and evacuates nothing; the smaller of the count and the percentage of
        # the compute hosts applies.
        max_hosts_down = 1
        max_hosts_down_percent = 50
        # Fencing before evacuation, so a server never runs twice: a command the engine runs with the
        # host's name as last argument (or where {host} is), which must exit 0 within fence_timeout,
        # for example:  /usr/bin/ipmitool -I lanplus -H {host}-ipmi -U admin -f /etc/autoheal/ipmi-pass chassis power off
        # Not set: nothing is evacuated (an ERROR and a notification say so). fence = none evacuates
        # without fencing: choose it only where something else fences.
        #fence =
        fence_timeout = 60
        # Servers evacuated at once, and how long each may take to be ACTIVE on another host.
        max_parallel_evacuations = 4
        evacuation_timeout = 600
        # Hosts evacuated at once.
        hosts_at_once = 1
        # Servers with this metadata are left where they are.
        opt_out_metadata = autoheal_evacuate=false
        # When a fenced host answers again, clear forced_down (default: tell a person and leave it).
        unset_forced_down = false

        [metrics]
        # Where each daemon serves Prometheus /metrics and /healthz (200 while its broker connection
        # is up and its loops are alive), as host:port; empty turns the endpoint off. Keep them on
        # loopback or the management network.
        engine_listen = 127.0.0.1:9464
        monitor_listen = 127.0.0.1:9465

        [logging]
        # Log files, one per area: engine-control.log, engine-compute.log, engine-queue.log,
        # monitor.log. Everything also goes to standard output.
        log_dir = /var/log/autoheal
        # trace, debug, info, notice, warning, error or critical.
        level = info
        # text: `time LEVEL area message key=value…` for people; json: one object a line (time, level,
        # area, message and every key) for fluentd, Loki or OpenSearch. Files are created mode 0640 and
        # reopened on SIGHUP (logrotate: postrotate `docker kill -s HUP autoheal-engine`, or copytruncate).
        format = text
        """#
}
