import Foundation

/// Config files for tests that run the built daemons.
public enum TestConfig {
    /// Writes a config: the shared broker in `vhost` (heartbeat 5 s), the local Docker engine
    /// on its socket as the only control host and `control` as its containers, no compute host,
    /// a `container_auto_heal` sweep every second and the other payloads off, no event
    /// watching (the tests of it turn it on), a 5 s stop
    /// timeout, no grace and no back-off (tests of those set them), and logs and journal under
    /// `directory` (in `logs`, and `logs`-state), no metrics endpoints. `overrides` ("section.key": value) replace
    /// or add keys. Returns the file's path.
    public static func write(
        in directory: URL, name: String = "auto_heal.conf", vhost: String, control: [String], logs: String = "logs",
        overrides: [String: String] = [:]
    ) throws -> String {
        var sections: [(name: String, keys: [(String, String)])] = [
            ("rabbitmq", [("rabbitmq_addr", "127.0.0.1:5672"), ("vhost", vhost), ("heartbeat", "5")]),
            ("hosts", [("control_hosts", "unix://\(TestEnvironment.dockerSocket)"), ("compute_hosts", "")]),
            ("containers", [("control", control.joined(separator: ", ")), ("compute", "")]),
            (
                "schedule",
                [
                    ("container_auto_heal", "1"), ("allocation_heal", "0"), ("libvirt_suspend_wakeup", "0"), ("watch_events", "false"),
                ]
            ),
            ("engine", [("stop_timeout", "5"), ("state_dir", directory.appendingPathComponent(logs + "-state").path)]),
            ("policy", [("grace_after_start", "0"), ("backoff_initial", "0")]),
            ("metrics", [("engine_listen", ""), ("monitor_listen", "")]),
            ("logging", [("log_dir", directory.appendingPathComponent(logs).path), ("level", "info")]),
        ]
        for (path, value) in overrides.sorted(by: { $0.key < $1.key }) {
            let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
            precondition(parts.count == 2, "override keys are section.key")
            guard let s = sections.firstIndex(where: { $0.name == parts[0] }) else {
                sections.append((parts[0], [(parts[1], value)]))
                continue
            }
            if let k = sections[s].keys.firstIndex(where: { $0.0 == parts[1] }) {
                sections[s].keys[k].1 = value
            } else {
                sections[s].keys.append((parts[1], value))
            }
        }
        let text =
            sections.map { section in
                (["[\(section.name)]"] + section.keys.map { "\($0.0) = \($0.1)" }).joined(separator: "\n")
            }.joined(separator: "\n") + "\n"
        let file = directory.appendingPathComponent(name).path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
