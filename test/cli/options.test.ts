import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { oneLine, parseCalibOption, parseIntOption, parseNumberOption } from '../../host/cli/run.ts';

// Option parsers must throw commander's InvalidArgumentError: commander turns that into a one-line
// "error: option ... is invalid" and exit 1; any other error escapes as a stack trace.
describe('CLI option parsers', () => {
  it('parseNumberOption accepts finite numbers and names the option in its error', () => {
    const lr = parseNumberOption('--lr');
    expect(lr('1e-4')).toBe(1e-4);
    expect(lr('-0.5')).toBe(-0.5);
    for (const bad of ['abc', '', ' ', 'NaN', 'Infinity', '1e400']) {
      expect(() => lr(bad)).toThrow(InvalidArgumentError);
      expect(() => lr(bad)).toThrow(`--lr must be a number, got "${bad}"`);
    }
  });

  it('parseIntOption accepts whole numbers only', () => {
    const n = parseIntOption('--per-class');
    expect(n('12')).toBe(12);
    for (const bad of ['x', '1.5']) expect(() => n(bad)).toThrow(InvalidArgumentError);
    expect(() => n('1.5')).toThrow('--per-class must be a whole number, got "1.5"');
    expect(n('-4')).toBe(-4);
    const top = parseIntOption('--top', 1);
    expect(top('1')).toBe(1);
    expect(() => top('0')).toThrow(InvalidArgumentError);
    expect(() => top('-3')).toThrow('--top must be 1 or more, got -3');
  });

  it('parseCalibOption takes a whole number or all', () => {
    const c = parseCalibOption('--calib');
    expect(c('300')).toBe(300);
    expect(c('all')).toBe('all');
    expect(c(' ALL ')).toBe('all');
    for (const bad of ['some', '1.5', 'al']) {
      expect(() => c(bad)).toThrow(InvalidArgumentError);
      expect(() => c(bad)).toThrow(`--calib must be a whole number or all, got "${bad}"`);
    }
  });

  it('oneLine keeps a message with a binary file\'s bytes on one printable line', () => {
    const png = 'x.png: not valid JSON (Unexpected token \'\ufffd\', "\ufffdPNG\r\n\x1a\n"... is not valid JSON)';
    const line = oneLine(png);
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line).toBe('x.png: not valid JSON (Unexpected token \'\ufffd\', "\ufffdPNG\\r\\n\\x1a\\n"... is not valid JSON)');
    expect(oneLine('plain text; the fix')).toBe('plain text; the fix');
  });
});
