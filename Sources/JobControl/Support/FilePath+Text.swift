/// Path arithmetic on plain strings, as `NSString`'s `deletingLastPathComponent` and
/// `lastPathComponent` did it (FoundationEssentials has neither).
extension String {
    /// The directory part: `/a/b` → `/a`, `/a` → `/`, `a` → ``, `/a/b/` → `/a`.
    package var parentPath: String {
        var path = Substring(self)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        var parent = path[..<slash]
        while parent.count > 1 && parent.hasSuffix("/") { parent = parent.dropLast() }
        return String(parent)
    }

    /// The last component: `/a/b` → `b`, `/a/b/` → `b`, `/` → `/`.
    package var lastPathComponentText: String {
        var path = Substring(self)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/"), path.count > 1 else { return String(path) }
        return String(path[path.index(after: slash)...])
    }
}
