import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress of long work on standard error: a bar with rate and ETA redrawn in
/// place on a terminal, plain lines (at most one every few seconds) otherwise.
final class ProgressReporter {
    let label: String
    /// May be corrected while running (e.g. when files turn out not to be images).
    var total: Int
    let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let interactive: Bool
    private let minimumInterval: TimeInterval
    private let offset: Int

    /// `start`: work already done before this reporter (a resumed epoch), left out of the rate.
    init(_ label: String, total: Int, unit: String = "items", start: Int = 0) {
        self.label = label
        self.offset = start
        self.total = total
        self.unit = unit
        interactive = isatty(2) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        minimumInterval = interactive ? 0.1 : 5
    }

    /// Reports `done` of `total`; `extra` is appended (e.g. "loss 2.31").
    func update(_ done: Int, extra: String = "") {
        let now = Date()
        guard done >= total || now.timeIntervalSince(lastDraw) >= minimumInterval else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done - offset) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let suffix = extra.isEmpty ? "" : "  " + extra
        let counts = "\(done)/\(total) \(unit)  \(String(format: "%.1f", rate))/s  ETA \(Self.clock(remaining))"
        if interactive {
            let width = 28
            let filled = total > 0 ? min(width, width * done / total) : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            Terminal.standardErrorInPlace("\(label) [\(bar)] \(counts)\(suffix)")
        } else {
            Terminal.standardError("\(label): \(counts)\(suffix)")
        }
    }

    /// A line of its own on standard error, above the bar (redrawn at the next update).
    func note(_ line: String) {
        if interactive {
            Terminal.standardErrorInPlace("")
            lastDraw = .distantPast
        }
        Terminal.standardError(line)
    }

    /// Ends the bar with a summary line.
    func finish(_ summary: String) {
        let elapsed = Date().timeIntervalSince(start)
        if interactive { Terminal.standardErrorInPlace("") }
        Terminal.standardError("\(label): \(summary) in \(Self.clock(elapsed))")
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let whole = Int(seconds.rounded())
        let hours = whole / 3600, minutes = (whole % 3600) / 60, rest = whole % 60
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }
}
