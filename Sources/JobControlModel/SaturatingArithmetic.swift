extension Int64 {
    /// `self + other`, held at `Int64.max` (or `.min`) instead of trapping: for sums of numbers a
    /// build reported, which may be anything up to `Int64.max` each (progress of sibling groups).
    @inlinable
    public func addingSaturated(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }
}
