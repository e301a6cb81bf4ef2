// Validate glTF files with the Khronos glTF validator (npm gltf-validator); prints one JSON report per
// file, one per line: {"file", "numErrors", "numWarnings", "numInfos", "numHints", "messages"}.
// Usage: node scripts/validate_gltf.mjs FILE.glb [...]   (NODE_PATH or a local node_modules must hold gltf-validator)
import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "noop.js"));
const validator = require("gltf-validator");

for (const file of process.argv.slice(2)) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, { maxIssues: 100, writeTimestamp: false });
  const issues = report.issues;
  console.log(JSON.stringify({
    file, numErrors: issues.numErrors, numWarnings: issues.numWarnings, numInfos: issues.numInfos,
    numHints: issues.numHints,
    messages: issues.messages.map((m) => `${m.severity}:${m.code}:${m.pointer ?? ""}:${m.message}`),
  }));
}
