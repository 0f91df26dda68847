import { holdsAll, type OutGuard } from '../util/out-dir.ts';

/** The data report's folder (kept apart from report.ts, which loads the heavy chart stack). */
export const DATA_REPORT_OUTPUT: OutGuard = { command: 'data report', legacy: holdsAll('report.md', 'contact-sheet.png') };
