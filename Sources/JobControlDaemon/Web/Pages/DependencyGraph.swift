import Dispatch
import FoundationEssentials
import Glibc
import JobControl

/// A job's upstream and downstream jobs as an SVG drawing: one box per job, coloured by its
/// status (green successful, orange outdated, red failed, blue running, grey never built), in
/// columns by dependency depth, with an arrow from each dependency to its dependent. The
/// layout is computed here; nothing is fetched by the browser.
enum DependencyGraph {
    struct Node {
        var id: String
        var status: String
        var dependencies: [String]
    }

    /// Jobs drawn at most: a page for a job in a long chain (10,000 jobs deep) draws the part
    /// nearest it and says how many it left out, instead of recursing through all of them.
    static let maxShown = 200

    /// `focus`, what it needs and what needs it, the nearest first, in whole dependency steps
    /// while they fit in `limit` (a step that does not fit is cut, by name, to what does).
    static func related(_ focus: String, dependencies: [String: [String]], limit: Int = maxShown) -> Set<String> {
        var dependents: [String: [String]] = [:]
        for (id, needs) in dependencies {
            for dependency in needs { dependents[dependency, default: []].append(id) }
        }
        var shown: Set<String> = [focus]
        var upstream: Set<String> = [focus]
        var downstream: Set<String> = [focus]
        while !upstream.isEmpty || !downstream.isEmpty {
            let nextUp = Set(upstream.flatMap { dependencies[$0] ?? [] }).filter {
                dependencies[$0] != nil && !shown.contains($0)
            }
            let nextDown = Set(downstream.flatMap { dependents[$0] ?? [] }).subtracting(shown)
            let step = nextUp.union(nextDown)
            guard shown.count + step.count <= limit else {
                shown.formUnion(step.sorted().prefix(max(0, limit - shown.count)))
                break
            }
            shown.formUnion(step)
            upstream = nextUp
            downstream = nextDown
        }
        return shown
    }

    /// How many jobs `related` leaves out for `focus` (0 when the whole graph is drawn).
    static func leftOut(_ focus: String, dependencies: [String: [String]], shown: Int) -> Int {
        related(focus, dependencies: dependencies, limit: .max).count - shown
    }

    /// `jobs`: the wire form of at least the related jobs (id, status, dependencies).
    static func svg(focus: String, jobs: [JSONValue]) -> String {
        var all: [String: Node] = [:]
        for job in jobs {
            guard let id = job["id"]?.stringValue else { continue }
            all[id] = Node(
                id: id, status: job["status"]?.stringValue ?? "not_built",
                dependencies: (job["dependencies"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
        guard all[focus] != nil else { return "" }
        let shown = related(focus, dependencies: all.mapValues(\.dependencies))
        // Column: the longest chain of shown dependencies below a job, in dependency order
        // (Kahn's; the configuration refuses cycles, and a job left in one gets column 0).
        var column: [String: Int] = [:]
        var waiting: [String: Int] = [:]
        var dependentsShown: [String: [String]] = [:]
        for id in shown {
            let below = Set(all[id]?.dependencies ?? []).filter(shown.contains)
            waiting[id] = below.count
            for dependency in below { dependentsShown[dependency, default: []].append(id) }
        }
        var ready = shown.filter { waiting[$0] == 0 }.sorted()
        while let id = ready.popLast() {
            let value = column[id] ?? 0
            for dependent in dependentsShown[id] ?? [] {
                column[dependent] = max(column[dependent] ?? 0, value + 1)
                waiting[dependent, default: 0] -= 1
                if waiting[dependent] == 0 { ready.append(dependent) }
            }
        }
        let columns = Dictionary(grouping: shown.sorted(), by: { column[$0] ?? 0 })
        let width = 190
        let height = 34
        let gapX = 60
        let gapY = 14
        var position: [String: (x: Int, y: Int)] = [:]
        for (index, ids) in columns {
            for (row, id) in ids.enumerated() {
                position[id] = (20 + index * (width + gapX), 20 + row * (height + gapY))
            }
        }
        let totalWidth = 40 + (columns.keys.max() ?? 0) * (width + gapX) + width
        let totalHeight = 40 + (columns.values.map(\.count).max() ?? 1) * (height + gapY) - gapY
        var edges = ""
        for id in shown.sorted() {
            guard let to = position[id] else { continue }
            for dependency in all[id]?.dependencies ?? [] {
                guard let from = position[dependency] else { continue }
                let (x1, y1) = (from.x + width, from.y + height / 2)
                let (x2, y2) = (to.x, to.y + height / 2)
                let path: String
                if x2 - x1 > gapX {
                    // Across columns: along the gap between rows, so it passes no box.
                    let lane = y2 <= y1 ? from.y - gapY / 2 : from.y + height + gapY / 2
                    let (a, b) = (x1 + gapX / 2, x2 - gapX / 2)
                    path =
                        "M\(x1),\(y1) C\(x1 + gapX / 4),\(y1) \(x1 + gapX / 4),\(lane) \(a),\(lane) L\(b),\(lane) C\(x2 - gapX / 4),\(lane) \(x2 - gapX / 4),\(y2) \(x2 - 6),\(y2)"
                } else {
                    let middle = (x1 + x2) / 2
                    path = "M\(x1),\(y1) C\(middle),\(y1) \(middle),\(y2) \(x2 - 6),\(y2)"
                }
                edges +=
                    "<path class=\"edge\" data-from=\"\(Pages.escape(dependency))\" data-to=\"\(Pages.escape(id))\" d=\"\(path)\" marker-end=\"url(#arrow)\"/>"
            }
        }
        var nodes = ""
        for id in shown.sorted() {
            guard let at = position[id], let node = all[id] else { continue }
            let label = id.count > 26 ? String(id.prefix(25)) + "…" : id
            nodes += """
                <g class="node \(Pages.cssClass(node.status))\(id == focus ? " focus" : "")" data-job="\(Pages.escape(id))" data-status="\(Pages.escape(node.status))"><a href="/jobs/\(WebRequest.encode(id))"><title>\(Pages.escape(id)): \(Pages.escape(node.status.replacing("_", with: " ")))</title><rect x="\(at.x)" y="\(at.y)" width="\(width)" height="\(height)" rx="6"/><text x="\(at.x + width / 2)" y="\(at.y + height / 2 + 5)" text-anchor="middle">\(Pages.escape(label))</text></a></g>
                """
        }
        return """
            <svg class="graph" xmlns="http://www.w3.org/2000/svg" width="\(totalWidth)" height="\(totalHeight)" viewBox="0 0 \(totalWidth) \(totalHeight)" role="img" aria-label="dependency graph of \(Pages.escape(focus))">
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>
            \(edges)\(nodes)</svg>
            """
    }
}
