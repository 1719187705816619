import JobControl
import JobControlDaemon

/// A failure that says where it happened: stored with the build as a traceback frame.
struct ReportError: Error, CustomStringConvertible, ErrorLocation {
    var description: String
    var file: String
    var line: Int
    var function: String

    init(_ description: String, file: String = #fileID, line: Int = #line, function: String = #function) {
        (self.description, self.file, self.line, self.function) = (description, file, line, function)
    }
}

var registry = FunctionRegistry.builtins

/// `reports:daily`: counts rows for a day, with progress and log lines; returns a summary.
registry.register("reports:daily") { context, args, kwargs in
    let day = kwargs["day"]?.stringValue ?? "today"
    let sections = ["sales", "stock", "returns"]
    for (index, section) in sections.enumerated() {
        try context.progress(Int64(index + 1), of: Int64(sections.count), group: "sections", status: section)
        context.log(.info, "section \(section) of \(day) done")
    }
    return ["day": .string(day), "sections": .int(Int64(sections.count))]
}

/// `reports:broken`: fails with an error that carries its location.
registry.register("reports:broken") { _, _, _ in
    throw ReportError("the report source is unreachable")
}

await JobControlDaemonMain.run(registry: registry)
