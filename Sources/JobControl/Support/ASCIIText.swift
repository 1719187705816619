extension Unicode.Scalar {
    /// `A`–`Z`, `a`–`z`, `0`–`9`: the letters and digits of names (job ids, node names) and of
    /// words a shell needs no quotes for.
    package var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}
