import { doctor } from '../core/doctor.js';
import { wrap } from './output.js';

export async function run(options: { json?: boolean }): Promise<number> {
  const findings = await doctor();
  const failed = findings.filter((f) => f.status === 'fail').length;
  if (options.json) {
    process.stdout.write(JSON.stringify({ ok: failed === 0, findings }, null, 2) + '\n');
  } else {
    const out: string[] = [];
    for (const f of findings) {
      out.push(wrap(`${f.status.toUpperCase()}  `, `${f.check}: ${f.detail}`, 6));
      if (f.fix && f.status !== 'pass') out.push(wrap('      fix: ', f.fix, 11));
    }
    out.push('', failed === 0 ? 'natns doctor: everything natns needs is in place' : `natns doctor: ${failed} check(s) failed`);
    process.stdout.write(out.join('\n') + '\n');
  }
  return failed === 0 ? 0 : 1;
}
