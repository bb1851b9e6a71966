// Jest reporter: one plain closing line, "jest: N passed, N failed, N skipped", that CI reads.
// Written at process exit so that it comes after Jest's own summary.
export default class Summary {
  onRunComplete(_contexts, results) {
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} skipped`;
    process.once('exit', () => process.stderr.write(`${line}\n`));
  }
}
