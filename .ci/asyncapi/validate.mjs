// Parses schemas/asyncapi.yaml with the real AsyncAPI parser, resolving the
// relative $refs to the JSON Schema files from disk. Prints every diagnostic
// and exits non-zero on any error-severity diagnostic, on a parse failure, or
// when the document refers to anything remote (refs must be relative files so
// that the check works offline and the repository is self-contained).
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.resolve(here, process.argv[2] ?? '../../schemas/asyncapi.yaml');

// The parser always keeps its own http(s) resolvers; these run first and
// answer every remote ref with an empty document, so nothing is fetched, and
// the ref is reported as an error below.
const remote = [];
const refuseRemote = (schema) => ({
  schema,
  order: 1,
  canRead: true,
  read: (uri) => {
    remote.push(uri.toString());
    return '{}';
  },
});

const parser = new Parser({
  __unstable: { resolver: { resolvers: [refuseRemote('http'), refuseRemote('https')] } },
});

const severityName = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

let output;
try {
  output = await fromFile(parser, file).parse();
} catch (err) {
  console.error(`asyncapi: cannot parse ${file}: ${err?.stack ?? err}`);
  process.exit(2);
}
const { document, diagnostics } = output;

let errors = 0;
for (const d of diagnostics) {
  const sev = severityName[d.severity] ?? String(d.severity);
  if (d.severity === DiagnosticSeverity.Error) errors++;
  const where = d.path?.length ? d.path.join('.') : '(document)';
  const src = d.source && d.source !== file ? ` [${path.relative(process.cwd(), d.source)}]` : '';
  const line = d.range ? `:${d.range.start.line + 1}:${d.range.start.character + 1}` : '';
  console.log(`${sev} ${d.code} at ${where}${src}${line}: ${d.message}`);
}
for (const uri of [...new Set(remote)]) {
  errors++;
  console.log(`error remote-ref: ${uri} is not a relative file reference (refs must resolve offline)`);
}

if (errors > 0 || document === undefined) {
  console.error(`asyncapi: ${path.relative(process.cwd(), file)}: ${errors} error(s)${document === undefined ? ', document not parsed' : ''}`);
  process.exit(1);
}
const ops = document.operations().length;
const chans = document.channels().length;
const msgs = document.allMessages().length;
console.log(`asyncapi: ${path.relative(process.cwd(), file)} OK (AsyncAPI ${document.version()}, ${chans} channels, ${ops} operations, ${msgs} messages, ${diagnostics.length} non-error diagnostic(s))`);
