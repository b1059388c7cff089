import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The first SIGINT or SIGTERM, as a flag that a long loop (training steps, batch's images)
/// checks between units of work, so that it stops where its files are whole and says what
/// was saved. Nothing runs in a signal handler: the signals' default action (dying mid-write)
/// is ignored, and a dispatch source records each delivery from an ordinary queue.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var number: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Starts catching `signals` for the life of the returned object (until `release`).
    static func catching(_ signals: [Int32]) -> StopSignal {
        let stop = StopSignal()
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak stop] in stop?.request(number) }
            source.resume()
            stop.sources.append(source)
        }
        return stop
    }

    deinit { sources.forEach { $0.cancel() } }

    func request(_ signal: Int32) { lock.lock(); if number == nil { number = signal }; lock.unlock() }

    /// The first signal received, if any.
    var requested: Int32? { lock.lock(); defer { lock.unlock() }; return number }
}
