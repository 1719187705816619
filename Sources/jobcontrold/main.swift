import JobControlDaemon

// `jobcontrold`: the daemon with the built-in functions. Everything lives in JobControlDaemon
// (``JobControlDaemonMain``), so a package can build its own daemon with its functions.
await JobControlDaemonMain.run()
