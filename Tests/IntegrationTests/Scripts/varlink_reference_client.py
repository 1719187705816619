"""Drives jobcontrold with the reference Python varlink client: introspection (the client parses
every interface description), calls of each kind, typed errors, and a `more` stream.
Usage: varlink_reference_client.py SOCKET. Prints one line per check; exits non-zero on failure."""
import sys

import varlink

address = "unix:" + sys.argv[1]
with varlink.Client(address=address) as client:
    service = client.open("org.varlink.service", namespaced=True)
    info = service.GetInfo()
    assert "io.jobcontrol.Manager" in info.interfaces, info
    print("interfaces", ",".join(sorted(info.interfaces)))
    for name in info.interfaces:
        # The client parses the IDL; a syntax error raises here.
        description = service.GetInterfaceDescription(name).description
        varlink.Interface(description)
        print("parsed", name)

    manager = client.open("io.jobcontrol.Manager", namespaced=True)
    jobs = manager.ListJobs().jobs
    print("jobs", ",".join(job.id for job in jobs))
    build = manager.RunJob("hello").build
    print("queued", build.id, build.job_id)
    states = [reply.build.state for reply in manager.RunJob("hello", _more=True)]
    print("stream", ",".join(states))
    assert states[-1] == "SUCCESSFUL", states
    print("status", manager.Status().jobs)
    print("calendar", manager.Calendar("Mon..Fri 9:00", "2026-11-29 00:00 UTC", 2).next[0])
    try:
        manager.GetJob("no-such-job")
        raise SystemExit("GetJob of an unknown job did not fail")
    except varlink.VarlinkError as error:
        assert error.error() == "io.jobcontrol.Manager.NoSuchJob", error.error()
        print("error", error.error(), error.parameters()["job"])
    try:
        manager.GetBuild("not a number")
        raise SystemExit("GetBuild with a string id did not fail")
    except varlink.VarlinkError as error:
        print("error", error.error())
print("ok")
