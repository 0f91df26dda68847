#!/usr/bin/env zx
// Builds every libFuzzer target (CMake targets named fuzz_*: fuzz_frame_decoder for the serial frame
// decoder, fuzz_int8_model for the int8 engine's model parser) with clang -fsanitize=fuzzer,address into
// build-fuzz/, then runs each for a bounded time.
//   npm run fuzz                    30 s per target
//   npm run fuzz -- --seconds 120   longer
//   npm run fuzz -- --only fuzz_frame_decoder
// Needs clang with its sanitizer runtimes (Debian 12: apt-get install -y clang libclang-rt-14-dev). Not
// part of npm test.
import { $, argv, fs, path } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
const build = path.join(root, 'build-fuzz');
const seconds = Number(argv.seconds ?? 30);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`fuzz: --seconds must be a positive number, got "${argv.seconds}"`);
  process.exit(2);
}
$.verbose = false;

const clang = await $`command -v clang++`.nothrow();
if (clang.exitCode !== 0) {
  console.error('fuzz: clang++ not found; install it with: apt-get install -y clang libclang-rt-14-dev (Debian 12; libFuzzer and ASan runtimes)');
  process.exit(2);
}

await $`cmake -S ${path.join(root, 'firmware/host')} -B ${build} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DPLASTISORT_FUZZ=ON -DPLASTISORT_WERROR=OFF`.pipe(process.stderr);
const help = await $`cmake --build ${build} --target help`;
let targets = [...new Set([...help.stdout.matchAll(/\b(fuzz_[A-Za-z0-9_]+)\b/g)].map((m) => m[1]))].sort();
if (argv.only) targets = targets.filter((t) => String(argv.only).split(',').includes(t));
if (!targets.length) {
  console.error('fuzz: no fuzz_* targets configured');
  process.exit(2);
}
const built = await $`cmake --build ${build} -j 2 --target ${targets}`.nothrow();
if (built.exitCode !== 0) {
  process.stderr.write(built.stdout.split('\n').slice(-20).join('\n') + built.stderr);
  if (/libclang_rt\.(fuzzer|asan)/.test(built.stderr + built.stdout)) {
    console.error('fuzz: clang is installed without its sanitizer runtimes; install them with: apt-get install -y libclang-rt-dev (Debian 12: libclang-rt-14-dev)');
  } else {
    console.error('fuzz: building the fuzz targets failed (see above)');
  }
  process.exit(2);
}

// Seed corpora: the golden protocol frames for the frame decoder; engine targets may bring their own
// (a fuzz/corpus_<target>/ folder next to their sources).
async function seedCorpus(target, dir) {
  await fs.mkdir(dir, { recursive: true });
  if (target === 'fuzz_frame_decoder') {
    const v = JSON.parse(await fs.readFile(path.join(root, 'test/vectors/protocol-frames.json'), 'utf8'));
    for (const f of v.frames) await fs.writeFile(path.join(dir, `golden-${f.name}`), Buffer.from(f.encodedHex, 'hex'));
    for (const x of v.exchanges) await fs.writeFile(path.join(dir, `request-${x.name}`), Buffer.from(x.requestHex, 'hex'));
  }
  for (const extra of await $`find ${path.join(root, 'firmware/components')} ${path.join(root, 'firmware/sim')} -type d -name ${`corpus_${target}`}`.lines()) {
    if (extra) await $`cp -n ${extra}/. ${dir}/ -r`.nothrow();
  }
}

async function findBinary(target) {
  const hits = (await $`find ${build} -type f -name ${target} -perm -u+x`.lines()).filter(Boolean);
  if (!hits.length) throw new Error(`fuzz: built ${target} but cannot find its binary under ${build}`);
  return hits[0];
}

const summary = [];
let failed = false;
for (const target of targets) {
  const bin = await findBinary(target);
  const corpus = path.join(build, 'corpus', target);
  const artifacts = path.join(build, 'artifacts', target) + '/';
  await seedCorpus(target, corpus);
  await fs.mkdir(artifacts, { recursive: true });
  console.error(`fuzz: ${target} for ${seconds} s`);
  const run = await $`${bin} ${corpus} -max_total_time=${seconds} -print_final_stats=1 -artifact_prefix=${artifacts} -rss_limit_mb=1024 -max_len=65536`.nothrow();
  const stats = run.stderr.match(/stat::number_of_executed_units:\s*(\d+)/);
  const ok = run.exitCode === 0;
  if (!ok) {
    failed = true;
    console.error(run.stderr.split('\n').slice(-40).join('\n'));
  }
  summary.push({ target, ok, executions: stats ? Number(stats[1]) : null, artifacts: ok ? undefined : artifacts });
}
for (const s of summary) {
  console.log(`${s.ok ? 'ok  ' : 'FAIL'} ${s.target}: ${s.executions ?? '?'} inputs in ${seconds} s${s.ok ? '' : `, crash inputs in ${s.artifacts}`}`);
}
process.exit(failed ? 1 : 0);
