/** `flash --help` states what --reset does when it is not given, as runFlashCommand chooses it. */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = resolve('dist/plastisort.js');

describe('flash --help', () => {
  it('gives the default of --reset: from the USB id of the port, found or given with --port', () => {
    const r = spawnSync(process.execPath, [cli, 'flash', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    // commander wraps the descriptions; the --reset entry runs up to the next option.
    const text = r.stdout.replace(/\s+/g, ' ');
    const entry = /--reset <style> (.*?) --no-compress/.exec(text)?.[1];
    expect(entry).toBeDefined();
    // --port no longer forces classic: a XIAO ESP32S3's only port (303A:1001) needs usb-jtag.
    expect(entry).toContain(
      '(default: from the USB id of the port, found or given with --port: usb-jtag for 303A:1001, else classic; classic for a port not listed as USB, e.g. a pty)',
    );
    expect(entry).not.toContain('classic with --port');
  });
});
