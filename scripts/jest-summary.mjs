// Jest reporter: one plain closing line, "jest: N passed, N failed, N skipped", that CI reads.
// Written at process exit so that it comes after Jest's own summary.
export default class Summary {
  onRunComplete(_contexts, results) {
    // A suite that fails to load has no failed tests; count it, or a broken file would read as green.
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `jest: ${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests} skipped`;
    process.once('exit', () => process.stderr.write(`${line}\n`));
  }
}
