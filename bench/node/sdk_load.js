#!/usr/bin/env node
// Path S of the benchmark: what a user does without mxgate. The official MX
// Node SDK (mx-platform-node, pinned in package.json; its 2.x line speaks
// MX's v20111101 API, the only line on npm) calls the upstream directly,
// with the SDK's defaults (axios on Node's global HTTP agent, which keeps
// connections alive and opens as many as the calls in flight need).
//
// The driver is open loop like the C++ ones (bench/load_runner.h): calls
// start on a fixed schedule whatever the answers do, and latency runs from
// each call's intended start. Node has one thread, so the schedule is kept
// by a loop that yields to I/O between ticks: setImmediate when the next
// call is due within 2 ms, a timer otherwise; a late tick sends every call
// already due, and that lateness counts as latency (the send lag says how
// much). --rate=0 runs closed loop with --concurrency calls in flight.
//
// Prints one JSON report on stdout, with the same fields as the C++ tools.
'use strict';

const { Configuration, MembersApi } = require('mx-platform-node');

function parseArgs(argv) {
  const args = {
    base_url: '', rate: 0, concurrency: 1, warmup_ms: 500, duration_ms: 3000,
    timeout_ms: 5000, max_in_flight: 50000, drain_timeout_ms: 15000,
    client_id: 'sandbox-client-id', api_key: 'sandbox-api-key',
  };
  for (const arg of argv) {
    const match = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!match || !(match[1] in args)) {
      throw new Error(`unknown argument ${arg}`);
    }
    args[match[1]] = typeof args[match[1]] === 'number' ? Number(match[2]) : match[2];
  }
  if (!args.base_url) throw new Error('--base_url is required');
  return args;
}

// The log-linear histogram of bench/latency_histogram.h: 1024 linear
// sub-buckets per power of two, values in nanoseconds, read as the bucket's
// upper bound capped at the maximum.
class LatencyHistogram {
  constructor() {
    this.subBits = 10;
    this.maxTrackable = 2 ** 37 - 1;
    this.counts = new Float64Array(this.indexOf(this.maxTrackable) + 1);
    this.count = 0; this.sum = 0; this.min = 0; this.max = 0;
  }
  indexOf(value) {
    const sub = 2 ** this.subBits;
    if (value < sub) return value;
    const high = Math.floor(value / 2 ** 32);
    const topBit = high > 0 ? 63 - Math.clz32(high) : 31 - Math.clz32(value);
    const shift = topBit - this.subBits;
    return (shift + 1) * sub + (Math.floor(value / 2 ** shift) - sub);
  }
  upperBoundOf(index) {
    const sub = 2 ** this.subBits;
    if (index < sub) return index;
    const shift = Math.floor(index / sub) - 1;
    return ((index % sub) + sub + 1) * 2 ** shift - 1;
  }
  record(nanos) {
    const value = Math.max(0, Math.round(nanos));
    if (this.count === 0 || value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.count += 1;
    this.sum += value;
    this.counts[this.indexOf(Math.min(value, this.maxTrackable))] += 1;
  }
  valueAtPercentile(percentile) {
    if (this.count === 0) return 0;
    // The epsilon as in latency_histogram.cc: 99.9 / 100 * 1000 is 999.0000000000001.
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.count - 1e-9));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i += 1) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.upperBoundOf(i), this.max);
    }
    return this.max;
  }
  json() {
    const us = (nanos) => Math.round(nanos / 100) / 10;
    return {
      count: this.count, min: us(this.min), p50: us(this.valueAtPercentile(50)),
      p90: us(this.valueAtPercentile(90)), p99: us(this.valueAtPercentile(99)),
      p99_9: us(this.valueAtPercentile(99.9)), max: us(this.max),
      mean: us(this.count ? this.sum / this.count : 0),
    };
  }
}

const nowNanos = () => Number(process.hrtime.bigint());

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`sdk_load: ${error.message}\n`);
    process.exit(2);
  }
  const configuration = new Configuration({
    username: args.client_id,
    password: args.api_key,
    basePath: args.base_url,
    baseOptions: {
      headers: { Accept: 'application/vnd.mx.api.v1+json', 'Accept-Version': 'v20111101' },
      timeout: args.timeout_ms,
    },
  });
  const members = new MembersApi(configuration);
  // bench/bench_request.cc's request, as v20111101 has it (no data_request).
  const body = {
    member: {
      institution_code: 'mxbank',
      credentials: [
        { guid: 'CRD-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d', value: 'mxuser' },
        { guid: 'CRD-2c3d4e5f-6071-4b8c-9dae-1f2a3b4c5d6e', value: 'benchmark-password' },
      ],
    },
  };

  const open = args.rate > 0;
  const start = nowNanos();
  const measureFrom = start + args.warmup_ms * 1e6;
  const end = measureFrom + args.duration_ms * 1e6;
  const latency = new LatencyHistogram();
  const sendLag = new LatencyHistogram();
  const errors = {};
  let started = 0; let finished = 0; let notSent = 0; let inFlight = 0; let maxInFlight = 0;
  let measuredOk = 0; let measuredErrors = 0;
  let scheduleDone = false;

  const countError = (name, intended) => {
    errors[name] = (errors[name] || 0) + 1;
    if (intended >= measureFrom && intended < end) measuredErrors += 1;
  };

  const finish = (intended, error) => {
    const now = nowNanos();
    inFlight -= 1;
    finished += 1;
    if (error) {
      countError(error, intended);
    } else if (intended >= measureFrom && intended < end) {
      measuredOk += 1;
      latency.record(now - intended);
    }
    if (!open && !scheduleDone && now < end) startCall(now);
    maybeReport();
  };

  function startCall(intended) {
    started += 1;
    inFlight += 1;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    members.createMember('demo-user', body).then(
      (response) => finish(intended, response.status === 202 ? '' : `HTTP_${response.status}`),
      (error) => finish(intended, error.response ? `HTTP_${error.response.status}`
        : (error.code || 'ERROR')));
  }

  let reported = false;
  let drainTimer = null;
  function maybeReport(force) {
    if (reported || !scheduleDone || (finished < started && !force)) return;
    reported = true;
    if (drainTimer) clearTimeout(drainTimer);
    const unfinished = started - finished;
    if (unfinished > 0) errors.UNFINISHED = unfinished;
    const seconds = args.duration_ms / 1000;
    const report = {
      mode: open ? 'open' : 'closed', offered_rate: args.rate,
      concurrency: open ? 0 : args.concurrency, warmup_s: args.warmup_ms / 1000,
      duration_s: seconds, started, finished, not_sent: notSent, unfinished,
      measured_ok: measuredOk, measured_errors: measuredErrors + unfinished,
      throughput: Math.round((measuredOk / seconds) * 10) / 10, errors,
      max_in_flight: maxInFlight, latency_us: latency.json(), send_lag_us: sendLag.json(),
      path: 'S', sdk: `mx-platform-node ${require('mx-platform-node/package.json').version}`,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
  }

  function endSchedule() {
    scheduleDone = true;
    drainTimer = setTimeout(() => maybeReport(true), args.drain_timeout_ms);
    maybeReport();
  }

  if (open) {
    const period = 1e9 / args.rate;
    let next = 0;
    const tick = () => {
      const now = nowNanos();
      for (;;) {
        const intended = start + Math.round(next * period);
        if (intended >= end) { endSchedule(); return; }
        if (intended > now) {
          const wait = intended - now;
          if (wait < 2e6) setImmediate(tick); else setTimeout(tick, Math.floor(wait / 1e6) - 1);
          return;
        }
        next += 1;
        sendLag.record(now - intended);
        if (inFlight >= args.max_in_flight) {
          notSent += 1;
          countError('NOT_SENT', intended);
        } else {
          startCall(intended);
        }
      }
    };
    tick();
  } else {
    for (let i = 0; i < args.concurrency; i += 1) startCall(nowNanos());
    setTimeout(endSchedule, (end - nowNanos()) / 1e6);
  }
}

main();
