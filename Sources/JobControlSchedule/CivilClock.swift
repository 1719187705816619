/// Converts between instants and wall-clock times of one zone the way glibc's `localtime_r` and
/// `mktime` do, so that calendar arithmetic matches `systemd-analyze` to the second.
///
/// `mktime` keeps a guess of the zone's offset from one call to the next, and for a wall-clock
/// time that happens twice (when clocks fall back) that guess decides which instant it means. The
/// guess is part of this value, so each user carries its own, and results are reproducible.
/// A value type: not shared; whoever holds it owns its guess.
public struct CivilClock: Sendable {
    public let zone: ZoneRules
    /// `true` for `timegm`/`gmtime` arithmetic (expressions ending in `UTC`).
    public let isUTC: Bool
    /// The last offset found, as `instant - wallSeconds` (glibc's `localtime_offset`).
    var offsetGuess: Int64 = 0

    public init(zone: ZoneRules) {
        self.zone = zone
        isUTC = zone === ZoneRules.utc
    }

    /// The wall-clock time at `instant` (seconds since the epoch): `localtime_r`.
    public func civilTime(at instant: Int64) -> CivilTime {
        let type =
            isUTC ? LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC") : zone.localTimeType(at: instant)
        return CivilTime(
            wallSeconds: instant + Int64(type.utcOffset), utcOffset: type.utcOffset,
            isDST: type.isDST, abbreviation: type.abbreviation)
    }

    /// Normalizes `time` and returns the instant it denotes: `mktime` (or `timegm` for UTC).
    ///
    /// Out-of-range fields carry over. A wall-clock time that does not exist (clocks spring
    /// forward over it) comes back shifted by the size of the gap; one that exists twice comes back
    /// as the instant whose offset matches the guess, or `time.isDST` when that is not -1. Returns
    /// nil when no instant can be found (glibc's `-1`/`EOVERFLOW`).
    public mutating func normalize(_ time: inout CivilTime) -> Int64? {
        let requestedDST = isUTC ? 0 : time.isDST
        var clamped = time
        clamped.second = min(max(clamped.second, 0), 59)
        let wall = clamped.wallSeconds
        let secondAdjustment = Int64(time.second - clamped.second)

        // Probe: first assume the offset of the last call, then correct by the error.
        let start = wall + offsetGuess
        var instant = start, twoProbesAgo = start, oneProbeAgo = start
        var previousWasDST = 0
        var probesLeft = 6
        var found = civilTime(at: instant)
        var matched = false
        while true {
            let error = wall - found.wallSeconds
            if error == 0 { matched = true; break }
            let oscillating = instant == twoProbesAgo && instant != oneProbeAgo
            if oscillating
                && (requestedDST < 0 ? previousWasDST <= found.isDST : (requestedDST != 0) != (found.isDST != 0))
            {
                // In a spring-forward gap: settle on a time the gap's size away from the request.
                break
            }
            probesLeft -= 1
            if probesLeft == 0 { return nil }
            twoProbesAgo = oneProbeAgo
            oneProbeAgo = instant
            instant += error
            previousWasDST = found.isDST
            found = civilTime(at: instant)
        }

        if matched, requestedDST >= 0, (requestedDST != 0) != (found.isDST != 0) {
            // The right wall-clock time with the wrong DST flag: use the offset of the nearest
            // time that has the requested flag (glibc's stride search).
            guard let adjusted = instantWithRequestedDST(requestedDST != 0, near: instant, wall: wall) else {
                return nil
            }
            instant = adjusted
            found = civilTime(at: instant)
        }

        offsetGuess = instant - start + offsetGuess
        if secondAdjustment != 0 {
            instant += secondAdjustment
            found = civilTime(at: instant)
        }
        time = found
        return instant
    }

    private func instantWithRequestedDST(_ daylight: Bool, near instant: Int64, wall: Int64) -> Int64? {
        let stride: Int64 = 601_200
        let bound: Int64 = 536_454_000 / 2 + stride
        var delta = stride
        while delta < bound {
            for direction: Int64 in [-1, 1] {
                let probe = instant + delta * direction
                let probed = civilTime(at: probe)
                if (probed.isDST != 0) == daylight {
                    return probe + (wall - probed.wallSeconds)
                }
            }
            delta += stride
        }
        return nil
    }
}
