// Render a batch of TeX fragments with KaTeX and report which ones fail.
//
// stdin:  JSON array of {"tex": string, "display": boolean}
// stdout: JSON array of the same length; each entry is null when the
//         fragment rendered, or KaTeX's error message when it did not.
//
// KaTeX is resolved from the node_modules folder at the repository root
// (installed by `npm ci`), whatever the current working directory is.
import katex from "katex";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function check(item) {
  try {
    katex.renderToString(String(item.tex), {
      displayMode: Boolean(item.display),
      throwOnError: true,
    });
    return null;
  } catch (err) {
    return err && err.message ? err.message : String(err);
  }
}

const items = JSON.parse(await readStdin());
if (!Array.isArray(items)) {
  throw new TypeError("expected a JSON array on stdin");
}
process.stdout.write(JSON.stringify(items.map(check)));
