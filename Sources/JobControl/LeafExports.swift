// The model types (builds, log records, JSON) and the schedule types (calendar, cron, zones,
// durations) live in leaf modules that `jobctl` links without the core; everything that imports
// the core sees them as before.
@_exported import JobControlModel
@_exported import JobControlSchedule
