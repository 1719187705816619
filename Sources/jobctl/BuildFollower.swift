import FoundationEssentials
import Glibc
import JobControlModel
import JobControlProtocol
import JobControlSchedule

/// Follows a running build: its log lines as they are stored and its progress tree. On a
/// terminal the tree is a block of progress bars redrawn in place below the log (nested groups,
/// percentages, status lines, elapsed time, ETA); elsewhere each change is a plain line.
///
/// Ownership: the actor owns what is on screen (the lines of the drawn block and the latest tree).
actor BuildFollower {
    let socket: String?
    let buildID: Int64
    let showLogs: Bool
    let showProgress: Bool
    let minLevel: Int?
    let terminal = Terminal.current
    private var groups: [JSONValue] = []
    private var drawnLines = 0
    private var header = ""
    private var startTime: Date?
    private var state = "CREATED"
    /// Log records as text; and the start of a long line held back on a terminal.
    private lazy var printer = LogPrinter(paint: { [terminal] time, level, levelText in
        "\(terminal.paint(time, .dim)) \(terminal.paint(level: level, levelText))"
    })
    private var heldLine = ""

    init(socket: String?, buildID: Int64, showLogs: Bool = true, showProgress: Bool = true, minLevel: Int? = nil) {
        self.socket = socket
        self.buildID = buildID
        self.showLogs = showLogs
        self.showProgress = showProgress
        self.minLevel = minLevel
    }

    /// Follows until the build has ended; returns it as it ended.
    func run() async throws -> Build {
        let id = buildID
        let socket = socket
        let initial = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).GetBuild", ["id": .int(id)])
        update(build: try Build(wire: initial["build"]))
        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                await self?.redraw()
            }
        }
        defer { ticker.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            if showLogs {
                var parameters: [String: JSONValue] = ["build": .int(id)]
                if let minLevel { parameters["min_level"] = .int(Int64(minLevel)) }
                group.addTask {
                    try await GlobalOptions.withConnection(socket: socket) { connection in
                        try await connection.callMore("\(Interfaces.manager).GetLogs", parameters) { reply in
                            await self.received(logs: try arrayParameter(reply, "logs"))
                        }
                    }
                }
            }
            if showProgress {
                group.addTask {
                    try await GlobalOptions.withConnection(socket: socket) { connection in
                        try await connection.callMore("\(Interfaces.manager).GetProgress", ["build": .int(id)]) {
                            reply in
                            await self.received(progress: try arrayParameter(reply, "groups"))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try GlobalOptions.call(socket: socket, "\(Interfaces.manager).GetBuild", ["id": .int(id)])
        let build = try Build(wire: final["build"])
        update(build: build)
        redraw()
        return build
    }

    private func update(build: Build) {
        startTime = build.startTime
        state = build.state.rawValue
        header = "build \(build.id) of \(build.jobID)"
    }

    func received(logs: [JSONValue]) {
        guard !logs.isEmpty else { return }
        var text = heldLine
        heldLine = ""
        for value in logs {
            guard let record = try? WireFormat.log(from: value) else { continue }
            text += printer.text(record)
        }
        // On a terminal the progress block sits below the log: a line still open (a long line
        // whose next piece has not come yet) is held back until it is complete.
        if terminal.isInteractive, printer.isOpen, let lastNewline = text.lastIndex(of: "\n") {
            heldLine = String(text[text.index(after: lastNewline)...])
            text = String(text[...lastNewline])
        } else if terminal.isInteractive, printer.isOpen {
            heldLine = text
            text = ""
        }
        guard !text.isEmpty else { return }
        if terminal.isInteractive {
            writeOut(clearBlock() + text + block())
        } else {
            writeOut(text)
        }
    }

    func received(progress: [JSONValue]) {
        if state == "CREATED" { state = "RUNNING" }
        if startTime == nil { startTime = Date() }
        let before = Set(groups.map(Self.plainLine))
        groups = progress
        if terminal.isInteractive {
            redraw()
        } else {
            // Plain lines: only the groups that changed.
            writeOut(groups.map(Self.plainLine).filter { !before.contains($0) }.map { "progress \($0)\n" }.joined())
        }
    }

    func redraw() {
        guard terminal.isInteractive, showProgress else { return }
        writeOut(clearBlock() + block())
    }

    /// Moves the cursor to the start of the drawn block and clears to the end of the screen.
    private func clearBlock() -> String {
        guard drawnLines > 0 else { return "" }
        defer { drawnLines = 0 }
        return "\u{1B}[\(drawnLines)A\r\u{1B}[J"
    }

    /// The progress block: a header with state, elapsed time and ETA, then one bar per group.
    private func block() -> String {
        guard showProgress else { return "" }
        let elapsed = startTime.map { Date().timeIntervalSince($0) } ?? 0
        var line =
            "\(terminal.paint(header, .bold)) \(terminal.paint(state: state))  elapsed \(DurationFormatter.text(elapsed.rounded()))"
        if let root = groups.first(where: { $0["group"]?.stringValue == "" }) ?? groups.first,
            let current = root["current"]?.intValue, let total = root["total"]?.intValue, total > 0, current > 0,
            current < total,
            state == "RUNNING"
        {
            let fraction = Double(current) / Double(total)
            line += "  ETA \(DurationFormatter.text((elapsed * (1 - fraction) / fraction).rounded()))"
        }
        var lines = [line]
        let width = min(40, max(10, terminalWidth() - 60))
        for group in groups {
            let name = group["group"]?.stringValue ?? ""
            let parts = name.isEmpty ? [] : name.split(separator: "::", omittingEmptySubsequences: false)
            // The job's text shown, not obeyed, and on one row each: the block moves up by as
            // many rows as it drew (a newline or a wrapped status made it leave rows behind).
            var label = String(parts.last ?? "(build)").shownOnTerminal(newlines: true)
            if label.count > 40 { label = String(label.prefix(39)) + "…" }
            let indent = String(repeating: "  ", count: parts.count)
            let current = group["current"]?.intValue ?? 0
            let total = group["total"]?.intValue ?? 0
            let percent = total > 0 ? Int((Double(min(current, total)) / Double(total) * 100).rounded(.down)) : 0
            var text = "  " + indent + label.padded(to: max(1, 24 - indent.count))
            var used = text.count + 1 + width
            text += " " + terminal.paint(bar(current: current, total: total, width: width), .cyan)
            let numbers = " " + String(percent).leftPadded(to: 3) + "%  \(current)/\(total)"
            text += numbers
            used += numbers.count
            if let status = group["status"]?.stringValue {
                let room = terminalWidth() - used - 3
                if room > 0 {
                    var shown = status.shownOnTerminal(newlines: true)
                    if shown.count > room { shown = String(shown.prefix(room - 1)) + "…" }
                    text += "  " + terminal.paint(shown, .dim)
                }
            }
            lines.append(text)
        }
        drawnLines = lines.count
        return lines.joined(separator: "\n") + "\n"
    }

    /// `█████▌····` with eighths, so slow progress still moves.
    private func bar(current: Int64, total: Int64, width: Int) -> String {
        guard total > 0 else { return String(repeating: "·", count: width) }
        let eighths = Int((Double(min(current, total)) / Double(total) * Double(width * 8)).rounded(.down))
        let partials = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        var text = String(repeating: "█", count: eighths / 8)
        if eighths / 8 < width { text += partials[eighths % 8] }
        let used = eighths / 8 + (eighths % 8 > 0 ? 1 : 0)
        return text + String(repeating: "·", count: max(0, width - used))
    }

    private func terminalWidth() -> Int {
        var size = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
    }

    /// `download::file-3 3/10 30% fetching` for logs and pipes.
    static func plainLine(_ group: JSONValue) -> String {
        let name = group["group"]?.stringValue ?? ""
        let current = group["current"]?.intValue ?? 0
        let total = group["total"]?.intValue ?? 0
        let percent = total > 0 ? Int((Double(min(current, total)) / Double(total) * 100).rounded(.down)) : 0
        var text = "\(name.isEmpty ? "(build)" : name) \(current)/\(total) \(percent)%"
        if let status = group["status"]?.stringValue { text += " \(status)" }
        return text
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
