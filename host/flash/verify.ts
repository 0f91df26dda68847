import { SorterClient } from '../link/client.ts';
import { LinkClosedError, byteLinkTransport, type ByteLink } from '../link/port.ts';
import { UserError } from '../util/errors.ts';
import { sleep } from '../util/sleep.ts';
import { sha256Hex } from '../util/hash.ts';
import { appCarriesModel } from './app-image.ts';

export interface FlashedIdentity {
  firmwareVersion: string;
  modelSha256: string;
  /** The running app's ELF SHA-256, when it reports one. */
  appElfSha256?: string;
  /** The class labels of the running model, as INFO reports them. */
  labels: string[];
  /**
   * Where the running model came from: `partition` (the `model` partition: the model this flash wrote,
   * or one left there when the app was written without a model), `built-in` (the array compiled into the
   * app). Undefined when neither a model nor an app was written, so nothing tells them apart.
   */
  modelSource?: 'partition' | 'built-in';
  /** Whether this flash wrote the model the board runs. */
  modelWritten: boolean;
}

export interface VerifyExpectation {
  /** The model the board must report, when one was flashed. */
  model?: Uint8Array;
  /** app_elf_sha256 of the flashed app image (appImageElfSha256), when an app was written. */
  appElfSha256?: string;
  /**
   * The app image written, when one was: it holds its built-in model's SHA-256 (model_info.h's
   * kModelSha256), which tells the built-in model from one in the model partition.
   */
  app?: Uint8Array;
  /** Time the app needs to boot before it answers. */
  bootMs?: number;
  timeoutMs?: number;
}

/**
 * After the reset that ends a flash: asks the running firmware who it is (HELLO/INFO) and holds the
 * answer against what was written. A board still running old firmware, or one that ignored a freshly
 * written model partition, is an error, not a warning.
 */
export async function verifyFlashedBoard(link: ByteLink, appBaud: number, expect: VerifyExpectation): Promise<FlashedIdentity> {
  try {
    return await askFlashedBoard(link, appBaud, expect);
  } catch (e) {
    // Unplugged after the reset: what was written stands, only the question went unanswered.
    if (e instanceof LinkClosedError) {
      throw new UserError(
        `${e.message} after the flash; every region was verified by MD5 before the reset, only the check of the running app was cut off. Reconnect the board; to check it, run the same command again`,
      );
    }
    throw e;
  }
}

async function askFlashedBoard(link: ByteLink, appBaud: number, expect: VerifyExpectation): Promise<FlashedIdentity> {
  await link.setBaudRate(appBaud);
  await sleep(expect.bootMs ?? 500);
  const client = new SorterClient(byteLinkTransport(link), { timeoutMs: expect.timeoutMs ?? 3000, retries: 2 });
  let info;
  try {
    info = await client.handshake();
  } catch (e) {
    if (e instanceof UserError) {
      throw new UserError(`${e.message}. The flash itself was verified by MD5; the app did not answer after the reset`);
    }
    throw e;
  }
  if (expect.appElfSha256) {
    // The version string is the same for many builds; the ELF hash identifies this one.
    if (info.appElfSha256 === undefined) {
      throw new UserError(
        `${link.path}: the board does not report its app's ELF SHA-256 (firmware "${info.firmwareVersion}" predates it), so the flashed app ${expect.appElfSha256.slice(0, 16)}… cannot be confirmed; it did not boot the new app (check the boot log with idf.py monitor)`,
      );
    }
    if (info.appElfSha256 !== expect.appElfSha256) {
      throw new UserError(
        `${link.path}: the board runs app ${info.appElfSha256.slice(0, 16)}… (firmware "${info.firmwareVersion}"), not the flashed one (${expect.appElfSha256.slice(0, 16)}…); it did not boot the new app (check the boot log with idf.py monitor)`,
      );
    }
  }
  if (expect.model) {
    const sha = sha256Hex(expect.model);
    if (info.modelSha256 !== sha) {
      throw new UserError(
        `${link.path}: the board runs model ${info.modelSha256.slice(0, 16)}…, not the flashed one (${sha.slice(0, 16)}…); it rejected the model partition and fell back to its built-in model (check the boot log)`,
      );
    }
  }
  // The firmware runs the model partition's model when it can, else its built-in one.
  const builtIn = expect.app ? appCarriesModel(expect.app, info.modelSha256) : undefined;
  const modelSource = expect.model ? 'partition' : builtIn === undefined ? undefined : builtIn ? 'built-in' : 'partition';
  return {
    firmwareVersion: info.firmwareVersion,
    modelSha256: info.modelSha256,
    ...(info.appElfSha256 !== undefined ? { appElfSha256: info.appElfSha256 } : {}),
    labels: info.labels,
    ...(modelSource ? { modelSource } : {}),
    modelWritten: expect.model !== undefined,
  };
}

/**
 * One line for the technician: the firmware, the model the board runs (SHA-256 prefix), where it came
 * from and its classes, so a model for other classes is seen at once.
 */
export function describeFlashedIdentity(id: FlashedIdentity): string {
  const source =
    id.modelSource === 'built-in'
      ? 'built into the app'
      : id.modelSource === 'partition'
        ? `from the model partition (${id.modelWritten ? 'written now' : 'left from an earlier flash'})`
        : 'from the model partition or built into the app (not told apart)';
  const classes = id.labels.length === 0 ? 'no class labels reported' : `${id.labels.length} classes: ${id.labels.join(', ')}`;
  return `the board runs firmware ${id.firmwareVersion} with model ${id.modelSha256.slice(0, 16)}… ${source}, ${classes}`;
}
