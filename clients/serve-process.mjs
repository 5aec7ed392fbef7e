// `onnx-steer serve` as a child process for the Node tests (playground-test/, clients/openai-node/):
// start it on a free loopback port and learn its address from the start-up line; stop it with SIGTERM.

import { spawn } from "node:child_process";

/**
 * Spawns `launcher serve ...args` in `cwd` and resolves with { child, base } once it prints where it
 * listens; rejects when it exits first or takes over two minutes. `echo` copies its stderr to ours.
 */
export function startServe(launcher, args, { cwd, echo = false }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(launcher, ["serve", ...args], { cwd, stdio: ["ignore", echo ? "inherit" : "ignore", "pipe"] });
    let seen = "";
    const timer = setTimeout(() => reject(new Error("serve did not start within 120 s:\n" + seen)), 120_000);
    child.stderr.on("data", (chunk) => {
      const text = chunk.toString();
      if (echo) process.stderr.write(text);
      seen += text;
      const m = seen.match(/ at (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, base: m[1] });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error("serve exited with " + code + " before it listened:\n" + seen));
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited after 40 s; resolves true when SIGKILL was needed. */
export async function stopServe(child) {
  if (!child || child.exitCode !== null) return false;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timeout = new Promise((r) => setTimeout(r, 40_000, "timeout"));
  if ((await Promise.race([exited, timeout])) === "timeout") {
    child.kill("SIGKILL");
    return true;
  }
  return false;
}
