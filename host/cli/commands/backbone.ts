import type { Command } from 'commander';
import { describeCache, fetchImagenet, IMAGENET_H5, KERAS_BASE_URL } from '../../train/backbone-cache.ts';
import { DownloadError } from '../../train/download.ts';
import { UserError } from '../../util/errors.ts';
import { action } from '../run.ts';

export function register(program: Command): void {
  const backbone = program
    .command('backbone')
    .summary('fetch and show the ImageNet MobileNetV2 weights')
    .description(
      'The ImageNet weights behind --backbone imagenet (the default): the official Keras MobileNetV2 1.0/224 file ' +
        `(${IMAGENET_H5}), downloaded once into $XDG_CACHE_HOME/plastisort (or ~/.cache/plastisort) like ` +
        'keras.applications.MobileNetV2(weights="imagenet") does.',
    );

  backbone
    .command('fetch')
    .summary('download and check the Keras ImageNet weights into the cache')
    .description(
      'Download (resuming an interrupted download) the Keras MobileNetV2 ImageNet weights, check them (readable, every ' +
        'MobileNetV2 1.0 weight in shape, SHA-256 equal to the first download\'s, and hot_dog.jpg classified "hotdog" where ' +
        '../shared has the sample) and store them with a record of URL, SHA-256 and checks. Nothing is stored when a check fails.',
    )
    .option('--to <dir>', 'store the file in this folder instead of the cache, e.g. to carry it to an offline machine and pass it with --backbone')
    .addHelpText(
      'after',
      `\nSource: ${KERAS_BASE_URL}${IMAGENET_H5}\n(PLASTISORT_BACKBONE_BASE_URL replaces the folder part, e.g. for a mirror.)\n\nExample:\n  plastisort backbone fetch\n  plastisort backbone fetch --to /media/usb && plastisort train --backbone /media/usb/${IMAGENET_H5} …`,
    )
    .action(
      action(async (o: { to?: string }) => {
        let got;
        try {
          got = await fetchImagenet({}, o.to);
        } catch (e) {
          if (e instanceof DownloadError) throw new UserError(`${e.message}; nothing was cached (an interrupted download resumes on the next fetch)`);
          throw e;
        }
        const r = got.record;
        process.stdout.write(
          `${got.downloaded ? 'fetched' : 'already there'}: ${got.path}\n  from ${r.url}\n  sha256 ${r.sha256} (${r.trust})\n` +
            `  structure: ${r.checks.structure}\n  known image: ${r.checks.knownImage}\n`,
        );
      }),
    );

  backbone
    .command('info')
    .summary('what is cached, where it came from, its hashes')
    .option('--json', 'print as JSON', false)
    .action(
      action(async (o: { json: boolean }) => {
        const c = await describeCache();
        if (o.json) {
          process.stdout.write(JSON.stringify(c, null, 2) + '\n');
          return;
        }
        const lines = [`cache: ${c.cacheDir}`, `download URL: ${c.url}${c.offline ? ' (offline: downloads forbidden)' : ''}`];
        lines.push(`../shared ImageNet folder: ${c.shared ?? 'absent'}`);
        if (!c.entries.length) lines.push('cached: nothing (run plastisort backbone fetch)');
        for (const e of c.entries) {
          if (e.partial) {
            lines.push(`partial: ${e.path} (${e.bytes} bytes; the next fetch resumes it)`);
          } else if (!e.record) {
            lines.push(`file without record (not used): ${e.path} (${e.bytes} bytes)`);
          } else {
            const r = e.record;
            lines.push(`cached: ${e.path} (${r.bytes} bytes)`, `  from ${r.url} at ${r.fetchedAt}`, `  sha256 ${r.sha256} (${r.trust})`);
            lines.push(`  structure: ${r.checks.structure}`, `  known image: ${r.checks.knownImage}`);
          }
        }
        for (const [file, sha] of Object.entries(c.trusted)) lines.push(`trusted on first use: ${file} sha256 ${sha}`);
        lines.push('Keras publishes no hash for this file; the first checked download\'s SHA-256 is the reference for later ones.');
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
