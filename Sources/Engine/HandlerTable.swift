import AutoHealCore
import Handlers

/// Every payload and the handler that serves it, at a glance.
public struct HandlerTable: Sendable {
    public var containerAutoHeal: any PayloadHandler
    public var allocationHeal: any PayloadHandler
    public var libvirtSuspendWakeup: any PayloadHandler
    public var computeHostFailure: any PayloadHandler

    public init(
        containerAutoHeal: any PayloadHandler, allocationHeal: any PayloadHandler,
        libvirtSuspendWakeup: any PayloadHandler, computeHostFailure: any PayloadHandler
    ) {
        self.containerAutoHeal = containerAutoHeal
        self.allocationHeal = allocationHeal
        self.libvirtSuspendWakeup = libvirtSuspendWakeup
        self.computeHostFailure = computeHostFailure
    }

    public func handler(for payload: Payload) -> any PayloadHandler {
        switch payload {
        case .containerAutoHeal: containerAutoHeal  // ContainerReviver
        case .allocationHeal: allocationHeal  // PlacementAllocationHealer
        case .libvirtSuspendWakeup: libvirtSuspendWakeup  // LibvirtWaker
        case .computeHostFailure: computeHostFailure  // ComputeHostHealer
        }
    }
}
