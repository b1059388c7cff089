import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Standard error as progress displays use it: whole lines and, on a terminal, one status line
/// redrawn in place. Tests give their own `write` to see exactly what a display writes.
final class StatusOutput {
    /// A terminal that redraws a line in place; otherwise the status comes as plain lines.
    let interactive: Bool
    /// The terminal's width in columns, asked at each update (it may be resized); nil: unbounded.
    let columns: () -> Int?
    private let write: (String) -> Void
    /// Updates closer together than this are skipped: 0.1 s on a terminal, 5 s in a log file.
    private let minimumInterval: TimeInterval
    private var lastUpdate = Date.distantPast
    /// A status line is on screen, drawn in place, without its newline.
    private var statusShown = false

    init(interactive: Bool, columns: @escaping () -> Int? = { nil }, write: @escaping (String) -> Void) {
        self.interactive = interactive
        self.columns = columns
        self.write = write
        minimumInterval = interactive ? 0.1 : 5
    }

    /// Standard error, interactive when it is a terminal that can redraw a line.
    static func standardError() -> StatusOutput {
        StatusOutput(interactive: isatty(2) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb",
                     columns: terminalColumns, write: Terminal.writeStandardError)
    }

    /// Standard error's terminal width; 80 when it does not say (a terminal of unknown size).
    static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Whether a status update is due now (always when `force`), so that frequent updates cost nothing.
    func isDue(force: Bool = false) -> Bool {
        let now = Date()
        guard force || now.timeIntervalSince(lastUpdate) >= minimumInterval else { return false }
        lastUpdate = now
        return true
    }

    /// Shows the status: the line redrawn in place on a terminal, a plain line otherwise.
    func status(_ text: String) {
        if interactive {
            write("\r\u{1B}[K" + text)
            statusShown = true
        } else {
            write(text + "\n")
        }
    }

    /// A line of its own; a status line on screen is cleared first (the next update brings it back).
    func line(_ text: String) {
        write((statusShown ? "\r\u{1B}[K" : "") + text + "\n")
        statusShown = false
    }

    /// Ends the status line on screen as it stands, so that what follows starts on a new line.
    func endStatus() {
        guard statusShown else { return }
        write("\n")
        statusShown = false
    }
}

/// Progress of long work on standard error: a bar with rate and ETA redrawn in
/// place on a terminal, plain lines (at most one every few seconds) otherwise.
final class ProgressReporter {
    let label: String
    /// May be corrected while running (e.g. when files turn out not to be images).
    var total: Int
    let unit: String
    private let start = Date()
    private let output: StatusOutput
    private let offset: Int

    /// `start`: work already done before this reporter (a resumed epoch), left out of the rate.
    init(_ label: String, total: Int, unit: String = "items", start: Int = 0, output: StatusOutput = .standardError()) {
        self.label = label
        self.offset = start
        self.total = total
        self.unit = unit
        self.output = output
    }

    /// Reports `done` of `total`; `extra` is appended (e.g. "loss 2.31").
    func update(_ done: Int, extra: String = "") {
        guard output.isDue(force: done >= total) else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done - offset) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let suffix = extra.isEmpty ? "" : "  " + extra
        let counts = "\(done)/\(total) \(unit)  \(String(format: "%.1f", rate))/s  ETA \(Self.clock(remaining))"
        output.status(output.interactive ? "\(label) [\(Self.bar(done, of: total))] \(counts)\(suffix)"
                                         : "\(label): \(counts)\(suffix)")
    }

    /// A line of its own on standard error, above the bar (redrawn at the next update).
    func note(_ line: String) {
        output.line(line)
    }

    /// Ends the bar with a summary line.
    func finish(_ summary: String) {
        output.line("\(label): \(summary) in \(Self.clock(Date().timeIntervalSince(start)))")
    }

    /// A bar of `width` characters, `#` for the share done.
    static func bar(_ done: Int, of total: Int, width: Int = 28) -> String {
        let filled = total > 0 ? max(0, min(width, width * done / total)) : width
        return String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    }

    /// `m:ss` or `h:mm:ss`; `--:--` for what is not a time (NaN, negative, or past any sensible ETA).
    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "--:--" }
        let whole = Int(seconds.rounded())
        let hours = whole / 3600, minutes = (whole % 3600) / 60, rest = whole % 60
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }
}
