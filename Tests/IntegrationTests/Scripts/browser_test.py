#!/usr/bin/env python3
"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

Run by IntegrationTests/WebDashboardTests against a daemon with the jobs it configures:
  browser_test.py BASE_URL RUN_TOKEN GATE_DIR SCREENSHOT_DIR

Checks, each an assertion with a message: every page loads with no console error; an
anonymous client sees no run button and cannot run a job (browser and raw HTTP); the
dependency graph has one node per job with the status colour the API reports; a build started
from the run button shows its progress bar advancing on the build page without a reload (the
job waits on gate files this script creates, so nothing depends on timing); the log's level
filter works; a POST without the CSRF token is refused and creates nothing. Screenshots of every
page go to SCREENSHOT_DIR. Waits are bounded polls, never fixed sleeps.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

BASE, TOKEN, GATES, SHOTS = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
os.makedirs(SHOTS, exist_ok=True)
CLASS_OF_STATUS = {"success": "ok", "failed": "failed", "outdated": "outdated", "running": "running",
                   "not_built": "none"}


def wait_for(what, predicate, timeout=90.0):
    # Generous: CI runs this beside suites that load both cores (it took 54 s there, 6 s alone).
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except WebDriverException:  # the page is being replaced (a reload): look again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def http(method, path, body=None, headers=None):
    request = urllib.request.Request(BASE + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=90) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def api(method, **parameters):
    status, text = http("POST", f"/api/v1/{method}", json.dumps(parameters).encode(),
                        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert status == 200, f"{method}: {status} {text}"
    return json.loads(text)


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(90)


def console_errors():
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def load(path, shot=None):
    driver.get(BASE + path)
    wait_for(f"{path} to load", lambda: driver.execute_script("return document.readyState") == "complete")
    errors = console_errors()
    assert not errors, f"console errors on {path}: {errors}"
    assert "Not found" not in driver.title and "Could not load" not in driver.title, f"{path}: {driver.title}"
    if shot:
        driver.save_screenshot(os.path.join(SHOTS, shot))


def fetch_status(method, path, body=""):
    """A request made by the page's own origin (as a forged form or script would be)."""
    return driver.execute_async_script(
        "const [m, p, b, done] = arguments;"
        "fetch(p, {method: m, body: b || undefined, redirect: 'manual',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'}})"
        ".then(r => done(r.status), e => done(String(e)));",
        method, path, body)


checks = []
try:
    jobs = {job["id"]: job for job in api("ListJobs")["jobs"]}
    failed_build = api("ListBuilds", job="c", limit=1)["builds"][0]["id"]
    logged_build = api("ListBuilds", job="chatty", limit=1)["builds"][0]["id"]

    # Anonymous (read): every page, no console error, no run button.
    for path, shot in [("/", "overview.png"), ("/jobs", "jobs.png"), ("/jobs?tag=graph", None),
                       ("/jobs/d", "job.png"), (f"/builds/{failed_build}", "build-failed.png"),
                       (f"/builds/{logged_build}", "build-log.png"), ("/calendar", "calendar.png"),
                       ("/calendar?span=week", "calendar-week.png"), ("/login", "login.png")]:
        load(path, shot)
    checks.append("pages load without console errors")
    load("/jobs/slow")
    assert not driver.find_elements(By.ID, "run-button"), "an anonymous visitor sees the run button"
    before = len(api("ListBuilds", job="slow")["builds"])
    status = fetch_status("POST", "/jobs/slow/run", "force=on")
    assert status in (401, 403), f"an anonymous POST to run answered {status}"
    driver.get_log("browser")  # the refusal's own console line, expected
    status, text = http("POST", "/api/v1/RunJob", b'{"job": "slow"}', {"Content-Type": "application/json"})
    assert status == 401, f"an anonymous API RunJob answered {status}: {text}"
    assert len(api("ListBuilds", job="slow")["builds"]) == before, "an anonymous client started a build"
    checks.append("an anonymous client cannot run a job")

    # The dependency graph of d: a, b, c upstream, e downstream; z is unrelated.
    load("/jobs/d")
    nodes = driver.find_elements(By.CSS_SELECTOR, "svg.graph g.node")
    shown = sorted(node.get_attribute("data-job") for node in nodes)
    assert shown == ["a", "b", "c", "d", "e"], f"graph nodes: {shown}"
    for node in nodes:
        job = node.get_attribute("data-job")
        expected = CLASS_OF_STATUS[jobs[job]["status"]]
        classes = node.get_attribute("class").split()
        assert expected in classes, f"node {job}: classes {classes}, status {jobs[job]['status']}"
        fill = driver.execute_script(
            "return getComputedStyle(arguments[0].querySelector('rect')).fill", node)
        assert fill != "rgb(0, 0, 0)", f"node {job} has no colour"
    statuses = {job: jobs[job]["status"] for job in shown}
    assert statuses == {"a": "success", "b": "outdated", "c": "failed", "d": "not_built", "e": "not_built"}, statuses
    colours = {driver.execute_script("return getComputedStyle(arguments[0].querySelector('rect')).fill", node)
               for node in nodes}
    assert len(colours) == 4, f"four statuses, four colours: {colours}"
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.graph path.edge")) == 4, "edges a→b, b→d, c→d, d→e"
    checks.append("the dependency graph has one node per job, coloured by status")

    # Log in with the run token.
    load("/login")
    driver.find_element(By.NAME, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait_for("the login", lambda: "Log out" in driver.page_source)

    # CSRF: a POST with the session cookie but without the token is refused, and runs nothing.
    load("/jobs/slow")
    before = len(api("ListBuilds", job="slow")["builds"])
    status = fetch_status("POST", "/jobs/slow/run", "force=on")
    assert status == 403, f"a POST without the CSRF token answered {status}"
    status = fetch_status("POST", "/jobs/slow/run", "force=on&csrf=0123456789abcdef")
    assert status == 403, f"a POST with a wrong CSRF token answered {status}"
    driver.get_log("browser")  # the refusals' own console lines, expected
    cookie = driver.get_cookie("jobcontrol_session")["value"]
    status, _ = http("POST", "/jobs/slow/run", b"force=on", {"Cookie": f"jobcontrol_session={cookie}"})
    assert status == 403, f"a cross-client POST without the CSRF token answered {status}"
    status, _ = http("POST", "/api/v1/RunJob", b'{"job": "slow"}', {"Cookie": f"jobcontrol_session={cookie}"})
    assert status == 403, f"an API POST with the cookie but no X-CSRF-Token answered {status}"
    assert len(api("ListBuilds", job="slow")["builds"]) == before, "a POST without the CSRF token started a build"
    checks.append("a POST without the CSRF token is refused")

    # The run button: the build page follows the progress without a reload.
    driver.find_element(By.ID, "run-button").click()
    wait_for("the build page", lambda: "/builds/" in driver.current_url)
    driver.execute_script("window.stillTheSamePage = true;")

    def progress_value():
        bars = driver.find_elements(By.CSS_SELECTOR, "#progress progress")
        return float(bars[0].get_attribute("value")) if bars else None

    wait_for("progress 1/3", lambda: progress_value() == 1)
    driver.save_screenshot(os.path.join(SHOTS, "build-running.png"))
    open(os.path.join(GATES, "1"), "w").close()
    wait_for("progress 2/3 on the same page", lambda: progress_value() == 2)
    wait_for("the log line written after it, on the same page",
             lambda: "step-2" in driver.find_element(By.ID, "log").text)
    assert driver.execute_script("return window.stillTheSamePage === true"), "the page reloaded"
    open(os.path.join(GATES, "2"), "w").close()
    # When the build ends the page reloads itself to show the final state.
    wait_for("the finished build", lambda: "successful" in driver.find_element(By.CSS_SELECTOR, ".definition").text)
    assert not console_errors(), f"console errors on the build page: {console_errors()}"
    checks.append("a build started from the run button shows its progress advancing without a reload")

    # The log filter: all records, then WARNING and above by the select (which submits itself).
    load(f"/builds/{logged_build}")
    levels = [int(row.get_attribute("data-level")) for row in driver.find_elements(By.CSS_SELECTOR, "#log tr")]
    assert sorted(levels) == [20, 30, 40], f"all records: {levels}"
    select = driver.find_element(By.ID, "min-level")
    select.find_element(By.CSS_SELECTOR, "option[value='30']").click()
    wait_for("the filtered log", lambda: "min_level=30" in driver.current_url)
    levels = [int(row.get_attribute("data-level")) for row in driver.find_elements(By.CSS_SELECTOR, "#log tr")]
    assert sorted(levels) == [30, 40], f"WARNING and above: {levels}"
    driver.save_screenshot(os.path.join(SHOTS, "build-log-filtered.png"))
    checks.append("the log's level filter works")

    load("/", "overview-logged-in.png")
    print("\n".join(f"ok: {check}" for check in checks))
finally:
    driver.quit()
