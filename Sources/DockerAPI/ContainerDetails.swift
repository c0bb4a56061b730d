import AutoHealCore

/// The part of `GET /containers/{id}/json` the healer reads.
public struct ContainerDetails: Sendable, Decodable, Equatable {
    public struct Health: Sendable, Decodable, Equatable {
        /// none, starting, healthy or unhealthy.
        public var status: String
        public var failingStreak: Int?

        public init(status: String, failingStreak: Int? = nil) {
            self.status = status
            self.failingStreak = failingStreak
        }

        enum CodingKeys: String, CodingKey {
            case status = "Status"
            case failingStreak = "FailingStreak"
        }
    }

    public struct State: Sendable, Decodable, Equatable {
        /// created, running, paused, restarting, removing, exited or dead.
        public var status: String
        public var oomKilled: Bool?
        public var exitCode: Int?
        public var startedAt: String?
        public var finishedAt: String?
        /// Absent for a container without a health check.
        public var health: Health?

        public init(
            status: String, oomKilled: Bool? = nil, exitCode: Int? = nil, startedAt: String? = nil, finishedAt: String? = nil,
            health: Health? = nil
        ) {
            self.status = status
            self.oomKilled = oomKilled
            self.exitCode = exitCode
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.health = health
        }

        enum CodingKeys: String, CodingKey {
            case status = "Status"
            case oomKilled = "OOMKilled"
            case exitCode = "ExitCode"
            case startedAt = "StartedAt"
            case finishedAt = "FinishedAt"
            case health = "Health"
        }
    }

    public var id: String
    public var name: String
    public var state: State
    public var restartCount: Int?

    public init(id: String = "", name: String, state: State, restartCount: Int? = nil) {
        self.id = id
        self.name = name
        self.state = state
        self.restartCount = restartCount
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case name = "Name"
        case state = "State"
        case restartCount = "RestartCount"
    }

    /// The observation heal decisions are made from.
    public var observation: ContainerObservation {
        ContainerObservation(
            status: state.status, health: state.health?.status, exitCode: state.exitCode ?? 0,
            oomKilled: state.oomKilled ?? false, startedAt: ContainerObservation.parseDockerTime(state.startedAt))
    }
}
