// Drive the official TypeScript SDK (@openai/codex-sdk) through one benchmark case.
// The harness copies this file next to the SDK's node_modules, so the bare import resolves there.
//
//   node peer_ts.mjs REPORT CASE FAKE_CODEX
//     run      new Codex({codexPathOverride}).startThread().run("hi")
//     live     runStreamed("hi"): iterate every event
//     latency  runStreamed("hi"): stamp CLOCK_MONOTONIC (process.hrtime) at the first event
import { writeFileSync } from "node:fs";
import { Codex } from "@openai/codex-sdk";

const [report, kase, fake] = process.argv.slice(2);
const out = {};
const t0 = performance.now();
const thread = new Codex({ codexPathOverride: fake }).startThread();
if (kase === "run") {
  const turn = await thread.run("hi");
  out.items = turn.items.length;
  console.log(turn.finalResponse);
} else if (kase === "live" || kase === "latency") {
  const { events } = await thread.runStreamed("hi");
  let n = 0;
  let last = "";
  for await (const ev of events) {
    if (n === 0 && kase === "latency") out.first_ns = process.hrtime.bigint().toString();
    n += 1;
    if (ev.type === "item.completed" && ev.item.type === "agent_message") last = ev.item.text;
  }
  out.events = n;
  console.log(last);
} else {
  console.error(`unknown case ${kase}`);
  process.exit(2);
}
out.call_ms = performance.now() - t0;
writeFileSync(report, JSON.stringify(out));
