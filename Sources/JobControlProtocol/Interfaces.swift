/// The Varlink interface descriptions the daemon serves through
/// `org.varlink.service.GetInterfaceDescription`. They are the reference for the wire format;
/// ``WireFormat`` produces exactly these shapes.
public enum Interfaces {
    public static let service = "org.varlink.service"
    public static let manager = "io.jobcontrol.Manager"

    public static let build = "io.jobcontrol.Build"

    public static let all: [String: String] = [
        service: serviceDescription, manager: managerDescription, build: buildDescription,
    ]

    public static let buildDescription = """
        # Calls a running build makes about itself, authorized by the token the
        # daemon put in its environment (JOBCONTROL_TOKEN). A token is valid only
        # while its build runs. `jobctl progress|log|retval|skip` use these.
        interface io.jobcontrol.Build

        # Reports progress. group nests with "::" (download::file-3); a group
        # nobody reports shows the sum of its children.
        method ReportProgress(token: string, current: int, total: int, group: ?string, status: ?string) -> ()

        # Adds a line to the build's log; level as in Python's logging (default 20,
        # INFO). logger names who wrote it (default "jobctl"; the daemon's own
        # names jobcontrol, stdout and stderr in any case, and names with anything
        # but printable ASCII, are stored as build.NAME); file, line and
        # function say where in the code (a Python logging record's pathname,
        # lineno, funcName); traceback is stored with the record ({"frames":
        # [...], "chain": [...]}, as a build's exception_tb).
        method Log(
          token: string,
          message: string,
          level: ?int,
          logger: ?string,
          file: ?string,
          line: ?int,
          function: ?string,
          traceback: ?object
        ) -> ()

        # Sets the build's return value (any JSON value), used if the build succeeds.
        method SetRetval(token: string, value: object) -> ()

        # Ends the build SKIPPED instead of SUCCESSFUL, if it succeeds.
        method Skip(token: string, reason: ?string) -> ()

        # The token is unknown, or its build has ended.
        error InvalidToken (message: string)

        """

    public static let serviceDescription = """
        # The Varlink Service Interface is provided by every varlink service. It
        # describes the service and the interfaces it implements.
        interface org.varlink.service

        # Get a list of all the interfaces a service provides and information
        # about the implementation.
        method GetInfo() -> (
          vendor: string,
          product: string,
          version: string,
          url: string,
          interfaces: []string
        )

        # Get the description of an interface that is implemented by this service.
        method GetInterfaceDescription(interface: string) -> (description: string)

        # The requested interface was not found.
        error InterfaceNotFound (interface: string)

        # The requested method was not found.
        error MethodNotFound (method: string)

        # The interface defines the requested method, but the service does not
        # implement it.
        error MethodNotImplemented (method: string)

        # One of the passed parameters is invalid.
        error InvalidParameter (parameter: string)

        # Client is denied access.
        error PermissionDenied ()

        # Method is expected to be called with 'more' set to true, but wasn't.
        error ExpectedMore ()

        """

    public static let managerDescription = """
        # Control interface of jobcontrold: the configured jobs, their builds and
        # the builds' logs. Timestamps are ISO 8601 strings in UTC.
        interface io.jobcontrol.Manager

        # A configured job.
        type Job (
          id: string,
          title: ?string,
          notes: ?string,
          # The function that runs a build, as module:function.
          function: string,
          # The job's args and kwargs as configured; !retval and !secret
          # references appear as {"!retval": job} and {"!secret": name}.
          args: []object,
          kwargs: object,
          dependencies: []string,
          # Strings, or {"!secret": name}: secret values are never sent.
          environment: object,
          working_directory: ?string,
          user: ?string,
          group: ?string,
          tags: []string,
          enabled: bool,
          protected: bool,
          # Seconds.
          timeout: ?float,
          pool: ?string,
          # Limits and containment as configured (the job's keys over
          # job_defaults; only those set): memory_max, cpu_quota, cpu_weight,
          # tasks_max, nice, limit_nofile, limit_core, leftovers, log_limit.
          resources: ?object,
          # For a Python function: interpreter, module, callable, path.
          python: ?object,
          # Where the job is defined: file:line:column.
          source: ?string,
          # not_built, running, success, failed, or outdated (a dependency has a
          # newer successful build than the one its latest successful build pinned).
          status: string,
          last_build: ?int,
          # When the job runs by itself: its schedule policy (schedule, timezone,
          # persistent, catch_up, concurrency, ...), or null for on-demand jobs.
          schedule: ?object,
          # The next scheduled start, and whether the schedule is suspended.
          next_run: ?string,
          suspended: ?bool,
          # The latest scheduled occurrence and what became of it.
          last_occurrence: ?Occurrence
        )

        # One occurrence of a job's schedule and what became of it.
        type Occurrence (
          job: string,
          # The instant the schedule named (ISO 8601, UTC).
          due: string,
          # started, queued, skipped (a build was still running), missed (the
          # daemon was down, the clock jumped, or start_deadline passed), or
          # failed (no build could be created).
          outcome: string,
          build: ?int,
          recorded: string,
          detail: ?string
        )

        # A scheduled job and its coming occurrences.
        type NextRun (
          job: string,
          schedules: []string,
          # Due times, soonest first (ISO 8601 with the daemon's local offset).
          next: []string,
          # When the first starts: its due time plus the job's randomized delay.
          starts_at: ?string,
          suspended: bool,
          enabled: bool,
          # Occurrences waiting for a running build (concurrency: queue).
          queued: int,
          concurrency: string,
          persistent: bool,
          last: ?Occurrence,
          # With a job given: its latest occurrences, newest first.
          recent: ?[]Occurrence
        )

        # One execution of a job.
        type Build (
          id: int,
          job_id: string,
          # CREATED, RUNNING, SUCCESSFUL, SKIPPED or FAILED.
          state: string,
          start_time: ?string,
          end_time: ?string,
          started: bool,
          finished: bool,
          success: bool,
          skipped: bool,
          # The job configuration copied at creation ("job") and the build
          # configuration ("build", with "dependency_builds" pins).
          config: object,
          # The return value: any JSON value.
          retval: ?object,
          # What made the build fail: "type", "message" and details.
          exception: ?object,
          exception_tb: ?object,
          # The daemon that ran it, when several share a PostgreSQL database.
          node: ?string,
          # What its command used, once it has ended: "source" ("cgroup",
          # "rusage", or "cgroup+rusage" when the cgroup lacked a figure that
          # rusage gave), "cpu_user_usec", "cpu_system_usec", "memory_peak_bytes",
          # "tasks_peak", "io_read_bytes", "io_write_bytes", "oom_kills"
          # (each present when the host measured it).
          usage: ?object
        )

        # One log line of a build.
        type LogRecord (
          id: int,
          build_id: int,
          created: string,
          # 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL.
          level: int,
          level_name: string,
          # Who wrote it: stdout, stderr, jobcontrol, or a function's logger.
          logger: string,
          # At most 48 KiB of output; a longer line is several records, each
          # but the last with partial true (the line goes on in the next
          # record of the same logger).
          message: string,
          partial: ?bool,
          # Where in the code it was logged (Python functions' logging records).
          file: ?string,
          line: ?int,
          function: ?string,
          # The traceback logged with it (logger.exception), as a build's exception_tb.
          exception_tb: ?object
        )

        # Lists the configured jobs.
        method ListJobs() -> (jobs: []Job)

        # Returns one job as loaded (after includes), secrets masked.
        method GetJob(job: string) -> (job: Job)

        # Creates a build of a job and queues it. Without "more" the reply comes
        # at once with the created build; with "more", a first reply (continues)
        # carries the created build and the last one the finished build.
        # force runs a protected job; pins maps dependencies to the builds to use
        # (default: each dependency's latest successful build). build_deps first
        # builds missing or outdated dependencies, in dependency order, in parallel
        # where independent; with "more" each of their builds is sent as it is
        # created and as it ends, before the job's own build. If one fails, the
        # jobs depending on it get FAILED builds that never ran, and the call
        # fails with DependencyFailed. build_revdeps, after the build succeeds,
        # builds the jobs depending on it (transitively, in dependency order);
        # with "more" their builds are sent before the final reply, which is
        # always the job's own build. parameters gives the job's parameters
        # (name: value; a string is converted to the parameter's type, as
        # `jobctl run -p` does); dependency_parameters gives, per dependency
        # job, those of the dependency builds build_deps creates (by default
        # they get none, only their defaults).
        method RunJob(job: string, force: ?bool, pins: ?[string]int, build_deps: ?bool, build_revdeps: ?bool, parameters: ?object, dependency_parameters: ?[string]object) -> (build: Build)

        # Lists builds of one job or of all jobs, newest first (order "asc":
        # oldest first), at most limit (default 50). started, finished,
        # success and skipped filter on those fields when given.
        method ListBuilds(job: ?string, limit: ?int, started: ?bool, finished: ?bool, success: ?bool, skipped: ?bool, order: ?string) -> (builds: []Build)

        # Cancels a build: a queued one never starts; a running one is stopped
        # (its process group gets SIGTERM, then SIGKILL after a grace period).
        # It ends FAILED with exception type Cancelled.
        method CancelBuild(id: int) -> ()

        # Deletes a finished build with its progress and log, after calling its
        # job's cleanup_function (if any) with the build; if that fails, the
        # build is kept and the error is CleanupFailed. While that function
        # runs, a RunJob that would pin the build fails with BadPin, and another
        # DeleteBuild of it on the same daemon waits for this one (then
        # NoSuchBuild, once deleted).
        method DeleteBuild(id: int) -> ()

        # Returns one build.
        method GetBuild(id: int) -> (build: Build)

        # One group of a build's progress tree; reported is false when the group
        # shows the sum of its children.
        type ProgressGroup (
          group: string,
          current: int,
          total: int,
          status: ?string,
          reported: bool
        )

        # Returns a build's progress tree, parents first. With "more", watches
        # it: a reply (continues) each time the tree changes, and a last one
        # when the build has ended.
        method GetProgress(build: int) -> (groups: []ProgressGroup)

        # Returns the log of a build, oldest first, at min_level or above, after
        # the record after_id if given, at most limit records if given (page
        # through a long log with after_id). A reply stays under 4 MiB: when it
        # stopped before the end of the log (or before limit), next_after_id
        # says where to go on. With "more", follows it: replies (continues)
        # carry new records as they are stored; the last one comes when the
        # build has ended.
        method GetLogs(build: int, min_level: ?int, after_id: ?int, limit: ?int) -> (
          logs: []LogRecord,
          next_after_id: ?int
        )

        # The daemon's state in one reply. The last_reload fields are set once
        # a reload has been tried.
        method Status() -> (
          version: string,
          pid: int,
          started: string,
          config_file: ?string,
          storage: string,
          jobs: int,
          workers: int,
          running: int,
          queued: int,
          last_reload: ?string,
          last_reload_ok: ?bool,
          last_reload_time: ?string,
          # The soonest scheduled start, and its job.
          next_run: ?string,
          next_run_job: ?string,
          # Jobs with a schedule, and how many of them are suspended.
          scheduled_jobs: int,
          suspended_jobs: int,
          # The HTTP listener's metrics URL, when http: is configured.
          metrics_url: ?string,
          # The web dashboard's URL (the JSON API is under api/v1), when http: is configured.
          dashboard_url: ?string,
          # When several daemons share a PostgreSQL database: this daemon's
          # name, every daemon the database knows of, and the builds waiting
          # in the shared queue for a daemon to claim them.
          node: ?string,
          cluster: ?[]ClusterNode,
          shared_queue: ?int,
          # Why the cluster could not be listed (the database is unavailable).
          cluster_error: ?string,
          # Set while the storage cannot be written (a database down, a disk
          # full): since when, and the error. Writes are held meanwhile.
          storage_unavailable_since: ?string,
          storage_error: ?string
        )

        # One daemon of a cluster sharing a PostgreSQL database.
        type ClusterNode (
          node: string,
          host: string,
          pid: int,
          # alive, stopped (a clean stop) or lost (its lease expired and its
          # builds were recovered by the others).
          state: string,
          started: string,
          # The last heartbeat, and its age in seconds by the database's clock.
          heartbeat: string,
          heartbeat_age: float,
          # Seconds after the last heartbeat before the others recover its builds.
          lease: float,
          workers: int,
          # Builds running on it now.
          running: int,
          version: string,
          # Whether it runs the cluster's schedules (one daemon at a time does).
          schedules: bool
        )

        # Loads and validates the configuration file again and, if it is valid,
        # replaces the running configuration (as SIGHUP does). Builds already
        # created keep the job configuration they copied. needs_restart lists
        # changed keys that take effect only at a restart (storage, socket,
        # cluster). Once the daemon is stopping it fails with ShuttingDown,
        # reading nothing.
        method Reload() -> (jobs: int, needs_restart: []string)

        # Applies the retention policies now: log records by level and age
        # (log_retention), finished builds per job (build_retention). With
        # dry_run, only reports what would be deleted.
        method Prune(dry_run: ?bool) -> (dry_run: bool, log_records: int, builds: []int)

        # Lists the scheduled jobs (or one) with their next count (default 1)
        # occurrences, latest outcome and, for one job, its recent occurrences.
        method NextRuns(job: ?string, count: ?int) -> (runs: []NextRun)

        # Suspends a job's schedule until Resume, across restarts, without
        # editing its file. Builds run on demand as before.
        method Suspend(job: string) -> ()

        # Resumes a suspended schedule from now on; what it missed while
        # suspended does not run.
        method Resume(job: string) -> ()

        # Evaluates a schedule expression (calendar, cron, or "every DURATION")
        # as jobctl calendar does: its normalized form and next elapses after
        # base_time (default now), in the daemon's local time; iterations of
        # them (default 1, at most 1000, 0 for none).
        method Calendar(expression: string, base_time: ?string, iterations: ?int) -> (
          normalized: string,
          kind: string,
          timezone: string,
          next: []string
        )

        # The expression is not a valid calendar, cron or interval expression.
        error InvalidSchedule (expression: string, message: string)

        # A notification from the outbox (docs/notifications.md). event: failed,
        # succeeded, recovered, still_failing, missed, skipped, silence,
        # long_running or test; state: pending, sending, delivered or failed.
        # payload holds the event's facts (the webhook body's fields).
        type Notification (
          id: int,
          channel: string,
          event: string,
          job_id: ?string,
          build_id: ?int,
          state: string,
          attempts: int,
          created: string,
          next_attempt: ?string,
          delivered: ?string,
          node: ?string,
          payload: object,
          last_error: ?string
        )

        # One attempt to deliver a notification. outcome: running, delivered,
        # failed or interrupted (the daemon stopped or died during it).
        type NotificationAttempt (
          number: int,
          node: string,
          started: string,
          ended: ?string,
          outcome: string,
          detail: ?string
        )

        # A notification channel as configured (secrets never shown).
        type Channel (name: string, kind: string, target: string, attempts: int, timeout: float)

        # Notifications newest first, of a job and in a state when given
        # (default limit 50).
        method ListNotifications(job: ?string, state: ?string, limit: ?int) -> (notifications: []Notification)

        # One notification with its attempts, oldest first.
        method GetNotification(id: int) -> (notification: Notification, attempts: []NotificationAttempt)

        # Sends a delivered or failed notification again (as a new attempt, same id).
        method ResendNotification(id: int) -> (notification: Notification, attempts: []NotificationAttempt)

        # Sends a test event to a channel and waits for the first attempt's outcome
        # (at most the channel's timeout and 5 s).
        method TestChannel(channel: string) -> (notification: Notification, attempts: []NotificationAttempt)

        # The configured channels.
        method ListChannels() -> (channels: []Channel)

        error NoSuchNotification (id: int, message: string)
        error NotificationBusy (id: int, message: string)
        error NoSuchChannel (channel: string, message: string)

        # The caller's user (SO_PEERCRED) lacks the access level the method
        # needs (read, run or admin; see access: in the configuration).
        error AccessDenied (method: string, required: string, message: string)

        # This user has too many connections open; only a running build's
        # io.jobcontrol.Build calls are answered on this one.
        error TooManyConnections (limit: int, message: string)

        # The message is larger than this method allows (limit bytes); only
        # io.jobcontrol.Build calls may be larger. The connection is closed.
        error RequestTooLarge (limit: int, message: string)

        # The job has no schedule.
        error NotScheduled (job: string, message: string)

        # No job has this id.
        error NoSuchJob (job: string, message: string)

        # The daemon is stopping and starts no new builds.
        error ShuttingDown (message: string)

        # The job is disabled in its configuration.
        error JobDisabled (job: string, message: string)

        # The job is protected; call RunJob with force.
        error JobProtected (job: string, message: string)

        # No build has this id.
        error NoSuchBuild (id: int, message: string)

        # A dependency built for this request failed; the job was not run.
        error DependencyFailed (job: string, dependency: string, build: int, message: string)

        # A pin names a job that is not a dependency, or a build that is not a
        # successful build of that dependency.
        error BadPin (job: string, dependency: string, message: string)

        # The build has not finished (cancel it first).
        error BuildRunning (id: int, message: string)

        # A build that has not finished pinned this one as its dependency (its
        # !retval reads it): it is kept until that build ends.
        error BuildInUse (id: int, by: int, message: string)

        # A parameter value was refused: unknown, missing, or not of the
        # parameter's type; the message says which and why.
        error InvalidJobParameters (job: string, message: string)

        # The job's cleanup function failed; the build was kept.
        error CleanupFailed (id: int, message: string)

        # The build has already finished.
        error BuildNotRunning (id: int, message: string)

        # A dependency of the job has no successful build to pin.
        error DependencyNotBuilt (job: string, dependency: string, message: string)

        # The configuration file has errors (file:line:column: message each);
        # nothing was changed.
        error ConfigInvalid (errors: []string, message: string)

        # Storage failed; the message says what and where.
        error StorageFailed (message: string)

        """
}
