"""Turns bench/run_bench.py's results into docs/BENCHMARKS.md and its plots.

write(results, report_dir) writes report_dir/BENCHMARKS.md and
report_dir/benchmarks/{latency_vs_load,throughput}.png (gnuplot) plus
report_dir/benchmarks/results.json, the raw numbers everything is read from.
"""

import json
import os
import statistics
import subprocess
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
MIB = 1024.0

# The issue's targets (2-core machine, nginx upstream, one run).
TARGET_RATIO = 0.65
TARGET_G_RATE = 15000
TARGET_ADDED_1_P50 = 80.0
TARGET_ADDED_1_P99 = 250.0
TARGET_ADDED_1000_P99 = 300.0
TARGET_CPU_ABOVE_D = 25.0
TARGET_IDLE_RSS_MIB = 25.0
TARGET_RSS_PER_1000_MIB = 32.0
CPU_RATE = 5000  # the rate at which CPU per call is compared


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def per_call_us(result, key):
    calls = result.get("finished") or 0
    return result[key] / calls * 1e6 if calls and key in result else None


PERCENTILES = ("p50", "p99", "p99_9")


def percentiles_table(rounds, paths, title_rate):
    """Median over rounds of each path's p50/p99/p99.9, and G − D (and
    G − D − F) paired by round. Paths the rounds lack are left out (results
    from before path F)."""
    paths = [path for path in paths if path in rounds[0]]
    lines = ["| path | p50 (µs) | p99 (µs) | p99.9 (µs) | calls measured per round |",
             "|---|---:|---:|---:|---:|"]
    names = {"D": "D: mxgate's MX client, direct", "G": "G: gRPC → mxgate",
             "F": "F: gRPC alone (floor server, no upstream)", "S": "S: MX Node SDK, direct"}
    for path in paths:
        cells = [median(r[path]["latency_us"][p] for r in rounds) for p in PERCENTILES]
        count = median(r[path]["latency_us"]["count"] for r in rounds)
        lines.append(f"| {names[path]} | {fmt(cells[0])} | {fmt(cells[1])} | {fmt(cells[2])} "
                     f"| {fmt(count)} |")
    added = added_latency(rounds)
    lines.append(f"| **added by the gateway (G − D)** | **{fmt(added['p50'])}** | "
                 f"**{fmt(added['p99'])}** | **{fmt(added['p99_9'])}** | |")
    beyond = beyond_grpc(rounds)
    if beyond:
        lines.append(f"| of which not gRPC's round trip (G − D − F) | {fmt(beyond['p50'])} | "
                     f"{fmt(beyond['p99'])} | {fmt(beyond['p99_9'])} | |")
    errors = sum(sum(r[p]["errors"].values()) for r in rounds for p in paths)
    lines.append("")
    lines.append(f"Medians of {len(rounds)} rounds ({title_rate}); G − D"
                 f"{' and G − D − F are the medians' if beyond else ' is the median'} of the "
                 f"per-round differences. Failed calls in these runs: {errors}.")
    return "\n".join(lines)


def added_latency(rounds):
    return {p: median(r["G"]["latency_us"][p] - r["D"]["latency_us"][p] for r in rounds)
            for p in PERCENTILES}


def beyond_grpc(rounds):
    """G − D − F per percentile, paired by round: what the gateway adds
    beyond a bare gRPC round trip. None without path F."""
    if "F" not in rounds[0]:
        return None
    return {p: median(r["G"]["latency_us"][p] - r["D"]["latency_us"][p]
                      - r["F"]["latency_us"][p] for r in rounds) for p in PERCENTILES}


def grid_table(steps):
    lines = ["| offered (calls/s) | achieved | p50 (µs) | p99 (µs) | p99.9 (µs) | errors | "
             "client CPU/call (µs) | gateway CPU/call (µs) | nginx CPU/call (µs) | "
             "upstream conns opened | other load (cores) | p99 ≤ 10 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(steps, key=lambda r: r["offered_rate"]):
        conns = r.get("gateway_upstream_connections_opened",
                      r.get("upstream_connections_opened", r.get("upstream_connections_accepted")))
        lines.append(
            f"| {fmt(r['offered_rate'])} | {fmt(r['throughput'])} | {fmt(r['latency_us']['p50'])} "
            f"| {fmt(r['latency_us']['p99'])} | {fmt(r['latency_us']['p99_9'])} "
            f"| {sum(r['errors'].values())} | {fmt(per_call_us(r, 'client_cpu_s'), 1)} "
            f"| {fmt(per_call_us(r, 'mxgate_cpu_s'), 1)} | {fmt(per_call_us(r, 'nginx_cpu_s'), 1)} "
            f"| {fmt(conns)} | {fmt(r['other_cpu_cores'], 2)} "
            f"| {'yes' if r['passed'] else 'no'}{' (2nd try)' if r.get('attempts', 1) > 1 else ''} |")
    return "\n".join(lines)


def cpu_per_call(rounds):
    """Medians over rounds of each process's CPU per call (µs); F's are
    None in results from before path F."""
    with_f = "F" in rounds[0]
    return {
        "d_client": median(per_call_us(r["D"], "client_cpu_s") for r in rounds),
        "gateway": median(per_call_us(r["G"], "mxgate_cpu_s") for r in rounds),
        "g_loadgen": median(per_call_us(r["G"], "client_cpu_s") for r in rounds),
        "floor": median(per_call_us(r["F"], "floor_cpu_s") for r in rounds) if with_f else None,
        "f_loadgen": (median(per_call_us(r["F"], "client_cpu_s") for r in rounds)
                      if with_f else None),
        "s_client": median(per_call_us(r["S"], "client_cpu_s") for r in rounds),
        "nginx_d": median(per_call_us(r["D"], "nginx_cpu_s") for r in rounds),
        "nginx_g": median(per_call_us(r["G"], "nginx_cpu_s") for r in rounds),
    }


def switches_per_call(rounds, path, key):
    """Median over rounds of context switches per call; None in results
    from before they were counted."""
    values = [r[path][key] / r[path]["finished"] for r in rounds
              if path in r and key in r[path] and r[path].get("finished")]
    return median(values) if values else None


def cpu_cases(results):
    """(label, figures) for the fixed-rate runs and the saturation runs."""
    fixed = results["fixed_rate"]
    saturation = results["saturation"]
    return [(f"{fixed['rate']:,} calls/s", cpu_per_call(fixed["rounds"])),
            (f"saturation ({saturation['concurrency']} in flight)",
             cpu_per_call(saturation["rounds"]))]


def write_plots(results, out_dir):
    with tempfile.TemporaryDirectory() as scratch:
        for placement in ("pinned", "unpinned"):
            grid = results.get(f"grid_{placement}")
            if not grid:
                continue
            files = {}
            for path in ("D", "G"):
                files[path] = os.path.join(scratch, f"{placement}-{path}.dat")
                with open(files[path], "w") as data:
                    for r in sorted(grid["steps"][path], key=lambda r: r["offered_rate"]):
                        if r["latency_us"]["count"]:
                            data.write(f"{r['offered_rate']} {r['latency_us']['p50']} "
                                       f"{r['latency_us']['p99']} {r['latency_us']['p99_9']}\n")
            png = os.path.join(out_dir, f"latency_vs_load_{placement}.png")
            subprocess.run(["gnuplot", "-e", f"d_file='{files['D']}'; g_file='{files['G']}'; "
                            f"placement='{placement}'; out='{png}'",
                            os.path.join(BENCH, "plots", "latency_vs_load.gp")], check=True)
        bars = os.path.join(scratch, "throughput.dat")
        pinned = results["grid_pinned"]["max_rate"]
        unpinned = results.get("grid_unpinned", {}).get("max_rate", {})
        saturation = saturation_medians(results)
        with open(bars, "w") as data:
            for path in ("D", "G", "S"):
                data.write(f"{path} {pinned.get(path, -1)} {unpinned.get(path, -1)} "
                           f"{saturation.get(path) or 0}\n")
        subprocess.run(["gnuplot", "-e", f"data='{bars}'; "
                        f"out='{os.path.join(out_dir, 'throughput.png')}'",
                        os.path.join(BENCH, "plots", "throughput.gp")], check=True)


def verdict(ok, how):
    return f"met ({how})" if ok else f"**missed** ({how})"


def targets_table(results):
    rows = []
    pinned = results["grid_pinned"]["max_rate"]
    unpinned = results.get("grid_unpinned", {}).get("max_rate", {})
    for label, maxima in (("pinned", pinned), ("2 cores, unpinned", unpinned)):
        if maxima.get("D") and "G" in maxima:
            ratio = maxima["G"] / maxima["D"]
            rows.append((f"throughput G/D ≥ {TARGET_RATIO} ({label})", f"{ratio:.2f} "
                         f"(G {fmt(maxima['G'])} / D {fmt(maxima['D'])} calls/s)",
                         verdict(ratio >= TARGET_RATIO,
                                 f"{(ratio - TARGET_RATIO) / TARGET_RATIO * 100:+.0f}%")))
    sat = saturation_medians(results)
    if sat["D"]:
        ratio = sat["G"] / sat["D"]
        rows.append((f"throughput G/D ≥ {TARGET_RATIO} (saturation, pinned; for reference)",
                     f"{ratio:.2f} (G {fmt(sat['G'])} / D {fmt(sat['D'])} calls/s)",
                     verdict(ratio >= TARGET_RATIO,
                             f"{(ratio - TARGET_RATIO) / TARGET_RATIO * 100:+.0f}%")))
    best_g = max(pinned.get("G", 0), unpinned.get("G", 0))
    rows.append((f"G ≥ {TARGET_G_RATE:,} calls/s for the whole box", f"{fmt(best_g)} calls/s",
                 verdict(best_g >= TARGET_G_RATE,
                         f"{(best_g - TARGET_G_RATE) / TARGET_G_RATE * 100:+.0f}%")))
    added_1 = added_latency(results["one_in_flight"])
    for key, target in (("p50", TARGET_ADDED_1_P50), ("p99", TARGET_ADDED_1_P99)):
        value = added_1[key]
        rows.append((f"added latency, 1 call in flight, {key} ≤ {target:.0f} µs",
                     f"{fmt(value)} µs", verdict(value <= target, f"{value - target:+.0f} µs")))
    fixed = results["fixed_rate"]
    added_k = added_latency(fixed["rounds"])
    value = added_k["p99"]
    rows.append((f"added latency at {fixed['rate']:,}/s, p99 ≤ {TARGET_ADDED_1000_P99:.0f} µs",
                 f"{fmt(value)} µs", verdict(value <= TARGET_ADDED_1000_P99,
                                              f"{value - TARGET_ADDED_1000_P99:+.0f} µs")))
    for label, cpu in cpu_cases(results):
        if cpu["gateway"] is None or cpu["d_client"] is None:
            continue
        above = cpu["gateway"] - cpu["d_client"]
        rows.append((f"gateway CPU per call ≤ {TARGET_CPU_ABOVE_D:.0f} µs above D's, at {label}",
                     f"{above:.1f} µs above (gateway {cpu['gateway']:.1f}, D {cpu['d_client']:.1f}"
                     " µs/call)",
                     verdict(above <= TARGET_CPU_ABOVE_D, f"{above - TARGET_CPU_ABOVE_D:+.1f} µs")))
    memory = results["memory"]
    idle = memory["idle_at_start_kib"] / MIB
    rows.append((f"idle RSS ≤ {TARGET_IDLE_RSS_MIB:.0f} MiB", f"{idle:.1f} MiB",
                 verdict(idle <= TARGET_IDLE_RSS_MIB, f"{idle - TARGET_IDLE_RSS_MIB:+.1f} MiB")))
    for level in memory["levels"]:
        per = rss_per_1000(memory, level)
        if per is None:
            continue
        rows.append((f"RSS per 1,000 in-flight calls ≤ {TARGET_RSS_PER_1000_MIB:.0f} MiB "
                     f"({fmt(level['max_in_flight_seen'])} in flight)", f"{per:.1f} MiB",
                     verdict(per <= TARGET_RSS_PER_1000_MIB,
                             f"{per - TARGET_RSS_PER_1000_MIB:+.1f} MiB")))
    if "S" in pinned and "G" in pinned:
        s_text = fmt(pinned["S"]) if pinned["S"] else "none (no rate passed)"
        rows.append(("G beats S in throughput (p99 ≤ 10 ms, pinned)",
                     f"G {fmt(pinned['G'])} vs S {s_text} calls/s",
                     verdict(pinned["G"] > pinned["S"], "G higher" if pinned["G"] > pinned["S"]
                             else "S higher")))
    rows.append((f"G beats S in throughput (saturation, "
                 f"{results['saturation']['concurrency']} in flight)",
                 f"G {fmt(sat['G'])} vs S {fmt(sat['S'])} calls/s",
                 verdict(sat["G"] > sat["S"], f"×{sat['G'] / max(sat['S'], 1):.1f}")))
    lines = ["| target (issue 5) | measured | verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def saturation_medians(results):
    """Median calls/s per path; F is None in results from before path F."""
    rounds = results["saturation"]["rounds"]
    return {p: median(r[p]["throughput"] for r in rounds if p in r) for p in ("D", "G", "F", "S")}


def cores_used(runs, key):
    """Median share of a core that `key`'s CPU time was over the runs' wall time."""
    return median(r[key] / r["wall_s"] for r in runs if r.get("wall_s") and key in r)


def grpc_floor_section(results, busy):
    """Path F against G and D: how much of what the gateway adds is gRPC's
    own cost, in latency, CPU and throughput. None without path F. `busy`:
    other processes took much of the machine (the p99s are then theirs)."""
    one = results["one_in_flight"]
    fixed = results["fixed_rate"]
    if "F" not in one[0] or "F" not in fixed["rounds"][0]:
        return None
    grpc = results["machine"]["versions"].get("gRPC", "?")
    out = ["Path F runs the same load generator, pinned the same way, against "
           "`mxgate-bench-floor`: a gRPC server of the same service (gRPC "
           f"{grpc}, callback API, mxgate's listener options) whose CreateMember answers at "
           "once, on the handler's thread, with the response the gateway sends for the "
           "benchmark's request; no upstream, no validation, no log. F has no HTTP hop, so "
           "F's latency is the whole gRPC hop (client stack, loopback, server stack and "
           "back), and G − D − F, paired by round, is what the gateway adds beyond it: its "
           "handler, validation, access log and metrics, the hand-offs from gRPC's threads "
           "to the libcurl loop and back (F replies on the handler's thread), and running "
           "the HTTP hop inside the gateway process rather than alone as in D.\n"]
    tail_note = (" Percentiles of a sum do not add, so G − D − F at p99 is no cost of its "
                 "own (it can come out negative)"
                 + ("; and on this busy machine every p99 here measures other processes' "
                    "time slices as much as gRPC." if busy else "."))

    def floor_latency(rounds, p):
        return median(r["F"]["latency_us"][p] for r in rounds)

    def latency_item(rounds, label, p50_target, p99_target, aside=""):
        f = {p: floor_latency(rounds, p) for p in ("p50", "p99")}
        added = added_latency(rounds)
        beyond = beyond_grpc(rounds)
        share = f" ({f['p50'] / added['p50'] * 100:.0f}%)" if added["p50"] > 0 else ""
        text = (f"- **{label}** (medians of {len(rounds)} rounds): gRPC alone (F) takes "
                f"{fmt(f['p50'])} µs at p50{aside} and {fmt(f['p99'])} µs at p99. Of the "
                f"{fmt(added['p50'])} µs the gateway adds at p50 (G − D), {fmt(f['p50'])} µs"
                f"{share} is gRPC's own round trip and {fmt(beyond['p50'])} µs (G − D − F) "
                "the rest.")
        if p50_target is not None:
            if f["p50"] >= p50_target:
                text += (f" F's p50 alone is {f['p50'] - p50_target:.0f} µs over the "
                         f"{p50_target:.0f} µs target for G − D: with this gRPC on this "
                         "machine, a gateway that adds one gRPC hop cannot meet it, however "
                         "little its own code costs.")
            else:
                text += (f" Against the {p50_target:.0f} µs target for G − D at p50, gRPC's "
                         f"round trip leaves {fmt(p50_target - f['p50'])} µs for the rest, "
                         f"which takes {fmt(beyond['p50'])} µs.")
        text += (f" F's p99 alone is {'over' if f['p99'] > p99_target else 'within'} the "
                 f"{p99_target:.0f} µs target for G − D at p99.{tail_note}")
        return text

    out.append(latency_item(one, "1 call in flight", TARGET_ADDED_1_P50, TARGET_ADDED_1_P99))
    out.append(latency_item(
        fixed["rounds"], f"{fixed['rate']:,} calls/s", None, TARGET_ADDED_1000_P99,
        aside=f" ({fmt(floor_latency(one, 'p50'))} µs back to back: with calls "
              f"{1000 / fixed['rate']:g} ms apart, each call also wakes gRPC's idle threads, "
              "which shows in F's CPU per call below)"))
    for label, cpu in cpu_cases(results):
        if None in (cpu["floor"], cpu["gateway"], cpu["d_client"]):
            continue
        above = cpu["gateway"] - cpu["d_client"]
        against = (f"already {cpu['floor'] - TARGET_CPU_ABOVE_D:.1f} µs over"
                   if cpu["floor"] > TARGET_CPU_ABOVE_D else
                   f"{TARGET_CPU_ABOVE_D - cpu['floor']:.1f} µs within")
        out.append(f"- **CPU per call, {label}**: F's server uses {cpu['floor']:.1f} µs, "
                   f"{against} the {TARGET_CPU_ABOVE_D:.0f} µs the target allows the gateway "
                   f"above D. The gateway uses {above:.1f} µs more than D's whole client "
                   f"({cpu['gateway']:.1f} − {cpu['d_client']:.1f}); taking F's server as "
                   f"gRPC's share, the other {above - cpu['floor']:.1f} µs is mxgate's own "
                   "work beyond D's plus any difference between the gateway's gRPC side and "
                   "F's (the gateway replies from another thread). D's figure also holds its "
                   "own load loop, which the gateway does not run, so that remainder "
                   "understates mxgate's share, if anything.")
    sat = saturation_medians(results)
    if sat["F"] and sat["D"] and sat["G"]:
        rounds = results["saturation"]["rounds"]
        f_runs = [r["F"] for r in rounds if "F" in r]
        g_runs = [r["G"] for r in rounds]
        text = (f"- **Throughput, {results['saturation']['concurrency']} calls in flight**: "
                f"F completes {fmt(sat['F'])} calls/s, G {fmt(sat['G'])} "
                f"({sat['G'] / sat['F'] * 100:.0f}% of F), D {fmt(sat['D'])}. G does all of "
                "F's work and more, with the same load generator on the same cores, so F's "
                f"ceiling bounds G's. F/D is {sat['F'] / sat['D']:.2f}: ")
        if sat["F"] / sat["D"] < TARGET_RATIO:
            text += (f"below the {TARGET_RATIO} asked of G/D, so gRPC alone puts that target "
                     "out of reach here")
        else:
            text += (f"gRPC alone does not rule out G/D ≥ {TARGET_RATIO}; G's shortfall from F "
                     "is what the gateway does besides gRPC on the same core: its HTTP client "
                     "(D's work), its own code and the hand-offs between them")
        text += (f". F's {fmt(sat['F'])} calls/s is "
                 + (f"below the {TARGET_G_RATE:,} asked of G for the whole box (F, like G, is "
                    "pinned: one core serves, the other loads)." if sat["F"] < TARGET_G_RATE
                    else f"above the {TARGET_G_RATE:,} asked of G for the whole box."))
        f_loadgen = cores_used(f_runs, "client_cpu_s")
        floor_server = cores_used(f_runs, "floor_cpu_s")
        g_loadgen = cores_used(g_runs, "client_cpu_s")
        gateway = cores_used(g_runs, "mxgate_cpu_s")
        other_f = median(r["other_cpu_cores"] for r in f_runs)
        other_g = median(r["other_cpu_cores"] for r in g_runs)
        text += (" Cores used (CPU time over each run's wall time, start-up included): in F's "
                 f"runs the load generator {fmt(f_loadgen, 2)}, the floor server "
                 f"{fmt(floor_server, 2)}, other processes {fmt(other_f, 2)}; in G's, the load "
                 f"generator {fmt(g_loadgen, 2)}, nginx "
                 f"{fmt(cores_used(g_runs, 'nginx_cpu_s'), 2)}, the gateway {fmt(gateway, 2)}, "
                 f"other processes {fmt(other_g, 2)}.")
        shares = [v for v in (f_loadgen, floor_server, g_loadgen, gateway) if v is not None]
        if shares and max(shares) < 0.9:
            text += (" None of these had a full core: the ceilings were set by the CPU the "
                     "other processes left or by waiting (hand-offs between threads, "
                     "wake-ups), not by one process's own CPU.")
        out.append(text)
    sat_rounds = results["saturation"]["rounds"]
    g_switches = switches_per_call(sat_rounds, "G", "mxgate_context_switches")
    f_switches = switches_per_call(sat_rounds, "F", "floor_context_switches")
    d_switches = switches_per_call(sat_rounds, "D", "client_context_switches")
    if None not in (g_switches, f_switches, d_switches):
        out.append(
            f"- **Hand-offs**: at saturation the gateway's threads switch context "
            f"{g_switches:.2f} times per call, F's server {f_switches:.2f}, D's whole client "
            f"{d_switches:.2f}. F answers on the thread that read the request, so one wake-up "
            "serves a batch of calls; the gateway hands each call from gRPC's threads to the "
            "libcurl loop and its answer back into gRPC, and with one core for all its "
            "threads each hand-off is a switch. What would close most of the rest: doing "
            "the upstream HTTP on gRPC's own threads and event loop, so that a call never "
            "changes thread (gRPC's EventEngine, public only in releases newer than "
            "Debian's 1.51); a second process-wide event loop, as here, always costs the "
            "hand-offs.")
    return "\n".join(out)


def rss_per_1000(memory, level):
    if not level["max_in_flight_seen"]:
        return None
    return ((level["peak_rss_kib"] - memory["idle_at_start_kib"]) / MIB
            / level["max_in_flight_seen"] * 1000)


def machine_section(results):
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return "\n".join([
        f"- CPU: {m['cpus']} × {m['cpu_model']} ({m['cpu_mhz']} MHz"
        f"{', virtual machine' if m['hypervisor'] else ''}); memory {m['memory']}",
        f"- `uname -a`: {m['uname']}",
        f"- {versions}",
        f"- Run from {results['started']} to {results['finished']}; load average "
        f"(1, 5, 15 min) {results['load_average_start']} at the start, "
        f"{results['load_average_end']} at the end.",
    ])


def write(results, report_dir):
    out_dir = os.path.join(report_dir, "benchmarks")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as raw:
        json.dump(results, raw, indent=1)
    write_plots(results, out_dir)

    pinned = results["grid_pinned"]
    unpinned = results.get("grid_unpinned")
    memory = results["memory"]
    slow = results["slow_upstream"]
    all_runs = [r for steps in pinned["steps"].values() for r in steps]
    other = median(r["other_cpu_cores"] for r in all_runs)
    worst_other = max(r["other_cpu_cores"] for r in all_runs)

    doc = []
    add = doc.append
    add("# Benchmarks\n")
    add("Generated by `./scripts/bench` (bench/run_bench.py, bench/report.py); do not edit by "
        "hand, rerun it. It measures what mxgate adds to a CreateMember call: the same call "
        "sent three ways to the same upstream, side by side in one run on one machine.\n")
    add("- **D** (direct): `mxgate-bench-direct` sends the call through mxgate's own MX client "
        "(`RestMxClient` over `CurlTransport`: the same request building, libcurl event loop, "
        "connection pool and answer mapping the gateway runs), with no gRPC. The floor for "
        "this code.")
    add("- **G** (gateway): `mxgate-bench-grpc`, an open-loop gRPC load generator (callback "
        "API, 2 HTTP/2 connections), calls mxgate, which calls the upstream.")
    add("- **F** (gRPC floor): the same load generator calls `mxgate-bench-floor` "
        "(`bench/floor_server.cc`), a bare gRPC server of the same service that answers at "
        "once with the gateway's own response: what gRPC alone costs. 1 call in flight, "
        "1,000 calls/s and saturation only.")
    add("- **S** (SDK): `bench/node/sdk_load.js` calls the upstream through the official MX "
        "Node SDK (`mx-platform-node`, axios, Node's keep-alive agent): what a user does "
        "without mxgate.\n")
    add("## Summary against the targets of issue 5\n")
    noise = (f"While the load grid ran, other processes used a median of {fmt(other, 2)} "
             f"cores (worst step {fmt(worst_other, 2)}) of the 2, measured from /proc/stat "
             "minus the benchmark's own processes.")
    busy = other is not None and other > 0.5
    if busy:
        add(f"**This machine was busy with other work.** {noise} Every figure that rests on "
            "a p99 (the max throughput at p99 ≤ 10 ms, p99 and p99.9 latencies) then "
            "measures the other processes' time slices more than mxgate, and moves by "
            "tens of percent, either way, between runs; a verdict on such a row is not "
            "evidence. The p50s, the saturation throughputs and their G/D ratio, the CPU "
            "per call, the memory figures and the instruction counts hold better. Rerun on "
            "an idle machine before judging the p99 targets.\n")
    add(targets_table(results) + "\n")
    if not busy:
        add(f"{noise} Compare D and G within one run.\n")
    floor = grpc_floor_section(results, busy)
    if floor:
        add("### What gRPC itself costs (path F)\n")
        add(floor + "\n")
    add("## Machine\n")
    add(machine_section(results) + "\n")
    add("## Method\n")
    add("- **Upstream**: nginx-light from a user config (`bench/upstream/nginx.conf.in`), one "
        "worker, answering `POST /users/{u}/members` with the fixed 753-byte "
        "`MemberResponseBody` of `bench/upstream/member_response_body.json` (202): mx-sandbox's "
        "answer to the benchmark's request, whose shape the sandbox's spec test checks against "
        "`third_party/mx-openapi/v20250224.yml`. Keep-alive without a request cap.")
    add("- **Request**: `bench/bench_request.cc`: user `demo-user`, institution `mxbank`, two "
        "credentials, product `transactions`; D and G send identical HTTP requests upstream "
        "(v20250224, a fresh `X-Request-Id` each); S sends the same member under v20111101, "
        "the only API version of the SDK on npm (2.x).")
    add("- **Open loop**: calls start on a fixed schedule whatever the answers do, and latency "
        "runs from each call's *intended* start, so a stalled server or load generator counts "
        "against the result (no coordinated omission). Percentiles come from a log-linear "
        "histogram (`bench/latency_histogram.h`, within 0.1%). Each step: "
        f"{results.get('warmup_ms', 500)} ms warm-up (not measured), then "
        f"{results.get('duration_ms', 2000)} ms measured.")
    add("- **Max throughput**: the highest offered rate whose measured calls all succeeded "
        "with p99 ≤ 10 ms; rates on a grid, then bisected between the last pass and the "
        "first failure. A step that failed narrowly is tried once more (the machine is "
        "shared); one that collapsed (errors, or p99 over 100 ms) is not. Calls there time "
        "out after 2 s.")
    add("- **Pinning** (`taskset`), 2 cores: the upstream nginx on core 0, and the thing "
        "compared alone on core 1: D's client, the gateway, F's floor server, or S's Node "
        "process. G's and F's load generator shares core 0 with nginx (idle during F). "
        "\"2 cores, unpinned\" lets every process use both.")
    add("- **CPU per call**: utime + stime deltas from /proc/PID/stat (the gateway, F's "
        "floor server, nginx) "
        "and the driver's rusage, over the whole driver run, divided by the calls it made "
        "(warm-up included). 10 ms tick resolution; runs use ≥ 1 s of CPU at the rates compared.")
    add("- **Gateway flags**: `" + results.get("gateway_flags", "") + "` (the access log on, "
        "as shipped; its lines go to a file)." + (
            f" **Floor server flags** (F): `{results['floor_flags']}`."
            if results.get("floor_flags") else "") + "\n")

    add("## Added latency\n")
    add("### 1 call in flight (closed loop)\n")
    add(percentiles_table(results["one_in_flight"], ("D", "G", "F", "S"), "closed loop, 1 call in "
                          "flight, pinned") + "\n")
    fixed = results["fixed_rate"]
    add(f"### {fixed['rate']:,} calls/s (open loop)\n")
    add(percentiles_table(fixed["rounds"], ("D", "G", "F", "S"), f"{fixed['rate']:,} calls/s, "
                          "pinned") + "\n")
    add("### Realistic upstream latency\n")
    runs = slow["runs"]
    lines = ["| upstream | rate (calls/s) | path | p50 (ms) | p99 (ms) | p99.9 (ms) | errors |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for key, upstream, rate in (("D", "nginx 150–250 ms", slow["rate"]),
                                ("G", "nginx 150–250 ms", slow["rate"]),
                                ("sandbox_D", "mx-sandbox 200 ms", slow["sandbox_rate"]),
                                ("sandbox_G", "mx-sandbox 200 ms", slow["sandbox_rate"])):
        r = runs[key]
        lines.append(f"| {upstream} | {fmt(rate)} | {key[-1]} | "
                     f"{fmt(r['latency_us']['p50'] / 1000, 1)} | {fmt(r['latency_us']['p99'] / 1000, 1)} "
                     f"| {fmt(r['latency_us']['p99_9'] / 1000, 1)} | {sum(r['errors'].values())} |")
    add("\n".join(lines) + "\n")
    add("nginx sleeps 150–250 ms (16 even steps keyed on its random `$request_id`: "
        "200 ms ± 25%). mx-sandbox has no jitter flag, only a fixed `--latency_ms`, and serves "
        "32 requests at a time (a waiting request holds one of its worker threads), so it runs "
        f"at {fmt(slow['sandbox_rate'])} calls/s only; its percentiles rest on few calls.\n")

    add("## Throughput\n")
    add("![max throughput](benchmarks/throughput.png)\n")
    sat = saturation_medians(results)
    lines = ["| path | max calls/s at p99 ≤ 10 ms, pinned | same, 2 cores unpinned | "
             "saturation calls/s, pinned |", "|---|---:|---:|---:|"]
    for path in ("D", "G", "S"):
        best = pinned["max_rate"].get(path)
        free = (unpinned or {}).get("max_rate", {}).get(path)
        lines.append(f"| {path} | {fmt(best) if best else 'none passed'} | "
                     f"{'not run' if free is None else fmt(free) if free else 'none passed'} | "
                     f"{fmt(sat[path])} |")
    add("\n".join(lines) + "\n")
    saturation = results["saturation"]
    lines = [f"| path | calls/s with {saturation['concurrency']} in flight (closed loop), "
             "median of rounds | p50 (ms) | errors |", "|---|---:|---:|---:|"]
    for path in [p for p in ("D", "G", "F", "S") if p in saturation["rounds"][0]]:
        rounds = saturation["rounds"]
        lines.append(f"| {path} | {fmt(median(r[path]['throughput'] for r in rounds))} | "
                     f"{fmt(median(r[path]['latency_us']['p50'] for r in rounds) / 1000, 1)} | "
                     f"{sum(sum(r[path]['errors'].values()) for r in rounds)} |")
    add("Saturation (pinned), the most each path completes whatever its latency; less "
        "sensitive to other processes than the p99 limit. G/D here: "
        f"{sat['G'] / sat['D']:.2f}"
        + (f"; F, gRPC alone, bounds G: G/F {sat['G'] / sat['F']:.2f}, F/D "
           f"{sat['F'] / sat['D']:.2f}" if sat["F"] else "") + ".\n" if sat["D"] else "")
    add("\n".join(lines) + "\n")
    add("![latency vs load, pinned](benchmarks/latency_vs_load_pinned.png)\n")
    if unpinned:
        add("![latency vs load, unpinned](benchmarks/latency_vs_load_unpinned.png)\n")
    for path in ("D", "G", "S"):
        add(f"### Path {path}, pinned: every step\n")
        add(grid_table(pinned["steps"][path]) + "\n")
    if unpinned:
        for path in ("D", "G"):
            add(f"### Path {path}, 2 cores unpinned: every step\n")
            add(grid_table(unpinned["steps"][path]) + "\n")
    add("\"client CPU/call\" is the load generator's own CPU (for D that is the whole "
        "client: the MX client and its libcurl loop); \"upstream conns opened\" is, for G, "
        "the gateway's `mxgate_upstream_connections_opened_total` delta, for D the "
        "transport's count, for S nginx's accepted connections.\n")

    add("## CPU per call\n")
    lines = ["| run (pinned) | D's whole client | gateway process | gateway − D | F's floor "
             "server | gateway − D − F | G's load generator | F's load generator | S's Node "
             "process | nginx (D) | nginx (G) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, cpu in cpu_cases(results):
        above = (cpu["gateway"] - cpu["d_client"]
                 if cpu["gateway"] is not None and cpu["d_client"] is not None else None)
        beyond = above - cpu["floor"] if None not in (above, cpu["floor"]) else None
        lines.append(f"| {label} | {fmt(cpu['d_client'], 1)} | {fmt(cpu['gateway'], 1)} | "
                     f"**{fmt(above, 1)}** | {fmt(cpu['floor'], 1)} | {fmt(beyond, 1)} | "
                     f"{fmt(cpu['g_loadgen'], 1)} | {fmt(cpu['f_loadgen'], 1)} | "
                     f"{fmt(cpu['s_client'], 1)} | {fmt(cpu['nginx_d'], 1)} | "
                     f"{fmt(cpu['nginx_g'], 1)} |")
    add("\n".join(lines) + "\n")
    add("µs of CPU (user + system) per call, medians over rounds. A process's whole run is "
        "counted, start-up and warm-up included, so a load generator's figure carries its "
        "start-up (most for S: Node loading the SDK) and falls as the rate rises; at a low "
        "rate each call also pays its own wake-ups, which batching spreads at saturation. "
        "The grid tables above give the same per step.\n")
    lines = ["| run (pinned) | D's whole client | gateway process | F's floor server | "
             "G's load generator |", "|---|---:|---:|---:|---:|"]
    rows = 0
    for label, key in ((f"{results['fixed_rate']['rate']:,} calls/s", "fixed_rate"),
                       (f"saturation ({results['saturation']['concurrency']} in flight)",
                        "saturation")):
        rounds = results[key]["rounds"]
        figures = (switches_per_call(rounds, "D", "client_context_switches"),
                   switches_per_call(rounds, "G", "mxgate_context_switches"),
                   switches_per_call(rounds, "F", "floor_context_switches"),
                   switches_per_call(rounds, "G", "client_context_switches"))
        if figures[1] is None:
            continue
        rows += 1
        lines.append(f"| {label} | " + " | ".join(fmt(f, 1) for f in figures) + " |")
    if rows:
        add("Context switches per call (every thread of the process; voluntary and "
            "involuntary, from /proc): each is a thread going to sleep or being preempted, "
            "the price of handing a call between threads.\n")
        add("\n".join(lines) + "\n")
    idle = results.get("gateway_idle_cpu_cores")
    if idle is not None:
        add(f"The idle gateway (no call) used {idle * 100:.1f}% of a core over 2 s.\n")
    add("## Memory\n")
    lines = ["| state | gateway RSS (MiB) | calls in flight | upstream connections open |",
             "|---|---:|---:|---:|",
             f"| idle, just started | {memory['idle_at_start_kib'] / MIB:.1f} | 0 | 0 |"]
    for level in memory["levels"]:
        lines.append(f"| {fmt(level['offered_in_flight'])}/s for 2.5 s against a 1 s upstream "
                     f"(peak) | {level['peak_rss_kib'] / MIB:.1f} | "
                     f"{fmt(level['max_in_flight_seen'])} | {fmt(level['max_connections_open'])} |")
    lines.append(f"| idle again afterwards | {memory['idle_after_kib'] / MIB:.1f} | 0 | |")
    add("\n".join(lines) + "\n")
    per = [rss_per_1000(memory, level) for level in memory["levels"]]
    add("RSS per 1,000 in-flight calls: " + ", ".join(
        f"{p:.1f} MiB (at {fmt(level['max_in_flight_seen'])})"
        for p, level in zip(per, memory["levels"]) if p is not None) +
        ". The 1 s upstream is nginx's `hold` port (an `echo_sleep` timer), not "
        "`mx-sandbox --latency_ms=1000`: the sandbox serves 32 requests at a time, so it "
        "cannot hold 1,000 calls open. A fresh gateway serves this phase, sampled every 50 ms "
        "(RSS from /proc/PID/status, in-flight calls and connections from /metrics). Each "
        "call in flight holds its own upstream connection: the transport speaks HTTP/1.1, one "
        "request per connection at a time.\n")
    add(f"After the load grid the main gateway's RSS was "
        f"{results['gateway_rss_after_load_kib'] / MIB:.1f} MiB.\n")

    profile = results.get("profile")
    if profile:
        add("## Where the instructions go (callgrind)\n")
        gateway, direct = profile["gateway"], profile["direct"]
        add(f"Under `valgrind --tool=callgrind` (which counts instructions identically on a busy "
            f"machine; system calls and the kernel are not counted), 4 calls in flight: the "
            f"gateway process executes **{fmt(gateway['instructions_per_call'])} instructions "
            f"per call**, D's whole client {fmt(direct['instructions_per_call'])}: "
            f"{fmt(gateway['instructions_per_call'] - direct['instructions_per_call'])} more. "
            "Inclusive counts per call (a row includes the indented rows below it):\n")
        lines = ["| function | gateway | D |", "|---|---:|---:|"]
        for name, value in gateway["functions"].items():
            indent = "&nbsp;" * (len(name) - len(name.lstrip()))
            lines.append(f"| {indent}{name.strip()} | {fmt(value)} "
                         f"| {fmt(direct['functions'].get(name))} |")
        add("\n".join(lines) + "\n")
        add(f"Full listings: `{gateway['top_file']}` and `{direct['top_file']}` after "
            "`./scripts/bench --profile`.\n")
    add("## Micro-benchmarks (bench/micro, Google Benchmark)\n")
    lines = ["| benchmark | CPU time (ns), median of 5 |", "|---|---:|"]
    for name, row in results["micro"].items():
        lines.append(f"| `{name}` | {fmt(row['cpu_ns'])} |")
    add("\n".join(lines) + "\n")
    add("Pinned to core 1 after the load runs. Debian's libbenchmark is built without "
        "NDEBUG and says so (\"Library was built as DEBUG\"); that affects the harness, not "
        "the code measured, which is built Release.\n")

    add("## Commands\n")
    add("Ports are chosen at run time; these are the ones of this run. One command per kind "
        "(the steps differ only in `--rate`/`--concurrency`):\n")
    add("```sh")
    for name, command in results["commands"].items():
        add(f"# {name}")
        add(command)
    add("```\n")
    add("Reproduce everything with `./scripts/bench` (about 10 minutes on 2 cores; "
        "`./scripts/bench --help`).\n")
    with open(os.path.join(report_dir, "BENCHMARKS.md"), "w") as out:
        out.write("\n".join(doc))
