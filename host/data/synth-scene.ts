/**
 * One synthetic "photo" of a plastic item: an SVG scene rendered by sharp (librsvg) to PNG. Everything
 * that varies — colour, pose, scale, position, lighting gradient, background texture, clutter — comes
 * from a PRNG seeded by (seed, class, index), so the same arguments give byte-identical files.
 *
 * The classes are recognisable by silhouette but share colours, backgrounds and clutter and are drawn
 * at varied pose and size, so a frozen-backbone linear probe does well without being perfect.
 */
import sharp from 'sharp';
import { createRng } from '../util/rng.ts';

export const SYNTH_CLASSES = ['pet_bottle', 'milk_jug', 'plastic_bag', 'food_container', 'cup', 'straw'] as const;
export type SynthClass = (typeof SYNTH_CLASSES)[number];

type Rng = () => number;

const r2 = (v: number) => Math.round(v * 100) / 100;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const uni = (rng: Rng, a: number, b: number) => a + rng() * (b - a);

function hsl(h: number, s: number, l: number): string {
  return `hsl(${Math.round(((h % 360) + 360) % 360)},${Math.round(s)}%,${Math.round(l)}%)`;
}

function randomColour(rng: Rng): string {
  return hsl(uni(rng, 0, 360), uni(rng, 20, 90), uni(rng, 25, 80));
}

/** Tints shared by several classes so colour alone does not give the class away. */
const PLASTIC_TINTS = [
  () => 'rgb(225,235,240)',
  () => 'rgb(170,205,225)',
  () => 'rgb(160,210,170)',
  () => 'rgb(245,245,245)',
  () => 'rgb(40,40,45)',
  (rng: Rng) => randomColour(rng),
];

function plasticTint(rng: Rng): string {
  return pick(rng, PLASTIC_TINTS)(rng);
}

/** Hash of a string to 32 bits (FNV-1a), to seed per-class streams. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function synthImageSeed(seed: number, cls: string, index: number): number {
  return (fnv1a(`${seed}:${cls}:${index}`) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

// Item drawings in a 100×100 box centred on (0,0); the scene transform places them.

function drawPetBottle(rng: Rng): string {
  const tint = pick(rng, ['rgb(200,225,240)', 'rgb(170,215,190)', 'rgb(215,235,245)', 'rgb(150,110,70)']);
  const cap = pick(rng, ['#1c5fd1', '#d12a1c', '#ffffff', '#2a9c3a', '#f2c200', '#222']);
  const label = randomColour(rng);
  const w = uni(rng, 22, 30);
  const h = uni(rng, 70, 84);
  const neck = w * uni(rng, 0.35, 0.45);
  const top = -h / 2;
  const shoulder = top + h * uni(rng, 0.18, 0.26);
  const labelY = top + h * uni(rng, 0.4, 0.5);
  return `
  <path d="M${r2(-neck / 2)},${r2(top + 6)} L${r2(-neck / 2)},${r2(top + 10)} Q${r2(-w / 2)},${r2(shoulder - 4)} ${r2(-w / 2)},${r2(shoulder + 6)}
    L${r2(-w / 2)},${r2(h / 2 - 4)} Q${r2(-w / 2)},${r2(h / 2)} ${r2(-w / 2 + 4)},${r2(h / 2)} L${r2(w / 2 - 4)},${r2(h / 2)}
    Q${r2(w / 2)},${r2(h / 2)} ${r2(w / 2)},${r2(h / 2 - 4)} L${r2(w / 2)},${r2(shoulder + 6)} Q${r2(w / 2)},${r2(shoulder - 4)} ${r2(neck / 2)},${r2(top + 10)}
    L${r2(neck / 2)},${r2(top + 6)} Z" fill="${tint}" fill-opacity="${r2(uni(rng, 0.55, 0.9))}" stroke="rgb(90,110,120)" stroke-width="0.8"/>
  <rect x="${r2(-neck / 2 - 1)}" y="${r2(top)}" width="${r2(neck + 2)}" height="7" rx="1.5" fill="${cap}"/>
  <rect x="${r2(-w / 2)}" y="${r2(labelY)}" width="${r2(w)}" height="${r2(h * uni(rng, 0.15, 0.25))}" fill="${label}"/>
  <path d="M${r2(-w / 2 + 3)},${r2(shoulder + 8)} L${r2(-w / 2 + 3)},${r2(h / 2 - 6)}" stroke="#fff" stroke-opacity="0.6" stroke-width="2"/>`;
}

function drawMilkJug(rng: Rng): string {
  const body = pick(rng, ['rgb(240,240,235)', 'rgb(235,238,240)', 'rgb(250,250,250)', 'rgb(225,230,215)']);
  const cap = pick(rng, ['#d12a1c', '#1c5fd1', '#2a9c3a', '#f2c200', '#7a2ab0']);
  const w = uni(rng, 48, 60);
  const h = uni(rng, 60, 72);
  const top = -h / 2;
  const hw = w * 0.28;
  return `
  <path d="M${r2(-w / 2)},${r2(top + h * 0.3)} L${r2(-hw / 2)},${r2(top + 6)} L${r2(hw / 2)},${r2(top + 6)}
    L${r2(w / 2)},${r2(top + h * 0.22)} L${r2(w / 2)},${r2(h / 2 - 3)} Q${r2(w / 2)},${r2(h / 2)} ${r2(w / 2 - 3)},${r2(h / 2)}
    L${r2(-w / 2 + 3)},${r2(h / 2)} Q${r2(-w / 2)},${r2(h / 2)} ${r2(-w / 2)},${r2(h / 2 - 3)} Z"
    fill="${body}" fill-opacity="${r2(uni(rng, 0.8, 0.97))}" stroke="rgb(150,150,140)" stroke-width="1"/>
  <path d="M${r2(hw / 2 + 2)},${r2(top + 10)} Q${r2(w / 2 - 2)},${r2(top + 8)} ${r2(w / 2 - 4)},${r2(top + h * 0.4)}"
    fill="none" stroke="rgb(170,170,160)" stroke-width="${r2(uni(rng, 4, 6))}"/>
  <path d="M${r2(hw / 2 + 2)},${r2(top + 10)} Q${r2(w / 2 - 2)},${r2(top + 8)} ${r2(w / 2 - 4)},${r2(top + h * 0.4)}"
    fill="none" stroke="${body}" stroke-width="2"/>
  <rect x="${r2(-hw / 2)}" y="${r2(top)}" width="${r2(hw)}" height="7" rx="1" fill="${cap}"/>
  <rect x="${r2(-w / 2 + 6)}" y="${r2(top + h * 0.5)}" width="${r2(w * 0.5)}" height="${r2(h * 0.25)}" fill="${randomColour(rng)}" fill-opacity="0.8"/>`;
}

function drawPlasticBag(rng: Rng): string {
  const colour = plasticTint(rng);
  const n = 14;
  const pts: string[] = [];
  const w = uni(rng, 34, 46);
  const h = uni(rng, 32, 44);
  for (let i = 0; i < n; i++) {
    const a = (i / n) * Math.PI * 2;
    const rr = uni(rng, 0.8, 1.15);
    pts.push(`${r2(Math.cos(a) * w * rr)},${r2(Math.sin(a) * h * rr + 8)}`);
  }
  const handle = (sx: number) =>
    `<path d="M${r2(sx * 22)},${r2(-h + 12)} Q${r2(sx * 26)},${r2(-h - 18)} ${r2(sx * 8)},${r2(-h + 8)}" fill="none" stroke="${colour}" stroke-width="4" stroke-opacity="0.9"/>`;
  const wrinkles: string[] = [];
  const nw = 3 + Math.floor(rng() * 4);
  for (let i = 0; i < nw; i++) {
    const x = uni(rng, -w * 0.7, w * 0.7);
    const y = uni(rng, -h * 0.4, h * 0.7);
    wrinkles.push(
      `<path d="M${r2(x)},${r2(y)} q${r2(uni(rng, -8, 8))},${r2(uni(rng, 4, 10))} ${r2(uni(rng, -12, 12))},${r2(uni(rng, 10, 20))}" stroke="rgb(0,0,0)" stroke-opacity="0.25" fill="none" stroke-width="1.2"/>`,
    );
  }
  return `
  ${handle(-1)}${handle(1)}
  <polygon points="${pts.join(' ')}" fill="${colour}" fill-opacity="${r2(uni(rng, 0.65, 0.95))}" stroke="rgb(0,0,0)" stroke-opacity="0.3" stroke-width="0.8"/>
  ${wrinkles.join('')}`;
}

function drawFoodContainer(rng: Rng): string {
  const colour = pick(rng, ['rgb(230,240,245)', 'rgb(30,30,32)', 'rgb(245,245,245)', 'rgb(200,220,235)']);
  const lid = pick(rng, ['rgb(230,240,245)', 'rgb(40,40,40)', 'rgb(210,60,50)', 'rgb(60,120,200)']);
  const w = uni(rng, 70, 86);
  const h = uni(rng, 28, 38);
  const taper = w * uni(rng, 0.06, 0.12);
  const food = rng() < 0.5 ? `<ellipse cx="${r2(uni(rng, -10, 10))}" cy="${r2(h * 0.2)}" rx="${r2(w * 0.3)}" ry="${r2(h * 0.25)}" fill="${randomColour(rng)}" fill-opacity="0.7"/>` : '';
  return `
  <path d="M${r2(-w / 2)},${r2(-h / 2)} L${r2(w / 2)},${r2(-h / 2)} L${r2(w / 2 - taper)},${r2(h / 2)} L${r2(-w / 2 + taper)},${r2(h / 2)} Z"
    fill="${colour}" fill-opacity="${r2(uni(rng, 0.6, 0.95))}" stroke="rgb(80,90,100)" stroke-width="1"/>
  ${food}
  <rect x="${r2(-w / 2 - 3)}" y="${r2(-h / 2 - 7)}" width="${r2(w + 6)}" height="8" rx="2" fill="${lid}" fill-opacity="0.9" stroke="rgb(80,90,100)" stroke-width="0.8"/>
  <line x1="${r2(-w / 2 + 4)}" y1="${r2(-h / 2 + 5)}" x2="${r2(w / 2 - 4)}" y2="${r2(-h / 2 + 5)}" stroke="rgb(255,255,255)" stroke-opacity="0.5" stroke-width="1.5"/>`;
}

function drawCup(rng: Rng): string {
  const colour = pick(rng, ['rgb(245,245,245)', 'rgb(210,40,40)', 'rgb(220,235,245)', 'rgb(250,230,120)', 'rgb(60,120,200)']);
  const top = uni(rng, 40, 52);
  const bottom = top * uni(rng, 0.6, 0.75);
  const h = uni(rng, 50, 64);
  const lid = rng() < 0.4;
  return `
  <path d="M${r2(-top / 2)},${r2(-h / 2)} L${r2(top / 2)},${r2(-h / 2)} L${r2(bottom / 2)},${r2(h / 2)} L${r2(-bottom / 2)},${r2(h / 2)} Z"
    fill="${colour}" fill-opacity="${r2(uni(rng, 0.7, 0.97))}" stroke="rgb(90,90,90)" stroke-width="1"/>
  <ellipse cx="0" cy="${r2(-h / 2)}" rx="${r2(top / 2)}" ry="${r2(top * 0.12)}" fill="${lid ? 'rgb(235,235,235)' : 'rgb(60,50,40)'}" fill-opacity="0.85" stroke="rgb(90,90,90)" stroke-width="1"/>
  <rect x="${r2(-top / 2 + 3)}" y="${r2(-h * 0.1)}" width="${r2(top * 0.7)}" height="${r2(h * 0.2)}" fill="${randomColour(rng)}" fill-opacity="0.6" transform="skewX(-4)"/>
  ${lid ? `<line x1="${r2(uni(rng, -6, 6))}" y1="${r2(-h / 2)}" x2="${r2(uni(rng, 4, 14))}" y2="${r2(-h / 2 - 22)}" stroke="${randomColour(rng)}" stroke-width="3"/>` : ''}`;
}

function drawStraw(rng: Rng): string {
  const colour = randomColour(rng);
  const stripe = rng() < 0.5 ? randomColour(rng) : '';
  const n = 1 + Math.floor(rng() * 3);
  let out = '';
  for (let i = 0; i < n; i++) {
    const len = uni(rng, 70, 95);
    const w = uni(rng, 3.5, 6);
    const dx = (i - (n - 1) / 2) * uni(rng, 8, 14);
    const bend = rng() < 0.5 ? uni(rng, -25, 25) : 0;
    const y0 = -len / 2;
    const y1 = len / 2;
    out += `<g transform="translate(${r2(dx)},0) rotate(${r2(uni(rng, -12, 12))})">
    <path d="M0,${r2(y1)} L0,${r2(y0 + 16)} L${r2(Math.sin((bend * Math.PI) / 180) * 16)},${r2(y0 + 16 - Math.cos((bend * Math.PI) / 180) * 16)}"
      fill="none" stroke="${colour}" stroke-width="${r2(w)}" stroke-linecap="round" stroke-linejoin="round"/>
    ${stripe ? `<path d="M0,${r2(y1)} L0,${r2(y0 + 16)}" fill="none" stroke="${stripe}" stroke-width="${r2(w * 0.35)}" stroke-dasharray="4 4"/>` : ''}
    <path d="M${r2(-w / 4)},${r2(y1 - 2)} L${r2(-w / 4)},${r2(y0 + 18)}" stroke="#fff" stroke-opacity="0.45" stroke-width="1"/>
    </g>`;
  }
  return out;
}

const DRAW: Record<SynthClass, (rng: Rng) => string> = {
  pet_bottle: drawPetBottle,
  milk_jug: drawMilkJug,
  plastic_bag: drawPlasticBag,
  food_container: drawFoodContainer,
  cup: drawCup,
  straw: drawStraw,
};

function background(rng: Rng, id: string): string {
  const kind = Math.floor(rng() * 4);
  const base = pick(rng, [
    hsl(uni(rng, 20, 40), uni(rng, 20, 50), uni(rng, 35, 65)), // wood / cardboard
    hsl(0, 0, uni(rng, 40, 85)), // concrete / studio grey
    hsl(uni(rng, 0, 360), uni(rng, 10, 40), uni(rng, 30, 75)), // painted surface
  ]);
  let tex = '';
  if (kind === 0) {
    // Planks or tiles.
    const n = 3 + Math.floor(rng() * 5);
    for (let i = 0; i < n; i++) {
      tex += `<rect x="0" y="${r2((100 / n) * i)}" width="100" height="${r2(100 / n)}" fill="#000" fill-opacity="${r2(uni(rng, 0, 0.18))}" stroke="#000" stroke-opacity="0.2" stroke-width="0.5"/>`;
    }
  } else if (kind === 1) {
    // Speckle.
    for (let i = 0; i < 60; i++) {
      tex += `<circle cx="${r2(uni(rng, 0, 100))}" cy="${r2(uni(rng, 0, 100))}" r="${r2(uni(rng, 0.3, 1.4))}" fill="${rng() < 0.5 ? '#000' : '#fff'}" fill-opacity="${r2(uni(rng, 0.1, 0.35))}"/>`;
    }
  } else if (kind === 2) {
    tex = `<rect width="100" height="100" filter="url(#tex${id})" opacity="${r2(uni(rng, 0.15, 0.4))}"/>`;
  }
  const seed = Math.floor(rng() * 1000);
  const freq = r2(uni(rng, 0.04, 0.2));
  return `<defs><filter id="tex${id}" x="0" y="0" width="100%" height="100%"><feTurbulence type="fractalNoise" baseFrequency="${freq}" numOctaves="2" seed="${seed}"/><feColorMatrix type="saturate" values="0"/></filter></defs>
  <rect width="100" height="100" fill="${base}"/>${tex}`;
}

function clutter(rng: Rng, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    const x = uni(rng, 0, 100);
    const y = uni(rng, 0, 100);
    const c = randomColour(rng);
    const op = r2(uni(rng, 0.3, 0.9));
    switch (Math.floor(rng() * 4)) {
      case 0:
        out += `<circle cx="${r2(x)}" cy="${r2(y)}" r="${r2(uni(rng, 2, 9))}" fill="${c}" fill-opacity="${op}"/>`;
        break;
      case 1:
        out += `<rect x="${r2(x)}" y="${r2(y)}" width="${r2(uni(rng, 4, 20))}" height="${r2(uni(rng, 3, 14))}" fill="${c}" fill-opacity="${op}" transform="rotate(${r2(uni(rng, 0, 180))} ${r2(x)} ${r2(y)})"/>`;
        break;
      case 2:
        out += `<line x1="${r2(x)}" y1="${r2(y)}" x2="${r2(x + uni(rng, -25, 25))}" y2="${r2(y + uni(rng, -25, 25))}" stroke="${c}" stroke-width="${r2(uni(rng, 0.5, 2.5))}" stroke-opacity="${op}"/>`;
        break;
      default:
        out += `<polygon points="${r2(x)},${r2(y)} ${r2(x + uni(rng, -12, 12))},${r2(y + uni(rng, 4, 14))} ${r2(x + uni(rng, 4, 14))},${r2(y + uni(rng, -12, 12))}" fill="${c}" fill-opacity="${op}"/>`;
    }
  }
  return out;
}

/**
 * The SVG scene for one image: background, clutter, sometimes a small item of another class, the item
 * under a random pose with its shadow, sometimes an occluder, lighting, sometimes haze and blur.
 */
export function synthSvg(cls: SynthClass, seed: number, size: number): string {
  const rng = createRng(seed);
  const id = seed.toString(16);
  const bg = background(rng, id);
  const behind = clutter(rng, 2 + Math.floor(rng() * 7));
  const lying = rng() < 0.3;
  const rot = cls === 'straw' || cls === 'plastic_bag' ? uni(rng, -180, 180) : (lying ? 90 * (rng() < 0.5 ? -1 : 1) : 0) + uni(rng, -25, 25);
  const scale = uni(rng, 0.4, 0.95);
  const tx = 50 + uni(rng, -18, 18);
  const ty = 50 + uni(rng, -18, 18);
  const item = DRAW[cls](rng);
  const shadow = r2(uni(rng, 0.1, 0.35));
  const la = uni(rng, 0, 360);
  const lx = r2(50 + Math.cos((la * Math.PI) / 180) * 50);
  const ly = r2(50 + Math.sin((la * Math.PI) / 180) * 50);
  const light = `<defs><linearGradient id="l${id}" gradientUnits="userSpaceOnUse" x1="${lx}" y1="${ly}" x2="${r2(100 - lx)}" y2="${r2(100 - ly)}">
    <stop offset="0" stop-color="#fff" stop-opacity="${r2(uni(rng, 0, 0.35))}"/><stop offset="1" stop-color="#000" stop-opacity="${r2(uni(rng, 0.05, 0.5))}"/></linearGradient></defs>
    <rect width="100" height="100" fill="url(#l${id})"/>`;
  const front = rng() < 0.4 ? clutter(rng, 1 + Math.floor(rng() * 2)) : '';
  // Now and then a small item of another class sits in a corner, as in real bin photos.
  let distractor = '';
  if (rng() < 0.4) {
    const others = SYNTH_CLASSES.filter((c) => c !== cls);
    const other = pick(rng, others);
    const dx = rng() < 0.5 ? uni(rng, 6, 22) : uni(rng, 78, 94);
    const dy = uni(rng, 6, 94);
    distractor = `<g transform="translate(${r2(dx)},${r2(dy)}) rotate(${r2(uni(rng, -180, 180))}) scale(${r2(uni(rng, 0.22, 0.4))})">${DRAW[other](rng)}</g>`;
  }
  // Partial occlusion by something in front (a hand, a box edge), low contrast haze, camera blur.
  let occluder = '';
  if (rng() < 0.3) {
    const ox = tx + uni(rng, -25, 10);
    const oy = ty + uni(rng, -25, 10);
    occluder = `<rect x="${r2(ox)}" y="${r2(oy)}" width="${r2(uni(rng, 15, 32))}" height="${r2(uni(rng, 12, 30))}" rx="${r2(uni(rng, 0, 8))}" fill="${randomColour(rng)}" fill-opacity="${r2(uni(rng, 0.75, 1))}" transform="rotate(${r2(uni(rng, -40, 40))} ${r2(ox)} ${r2(oy)})"/>`;
  }
  const haze = rng() < 0.3 ? `<rect width="100" height="100" fill="${hsl(0, 0, uni(rng, 55, 95))}" fill-opacity="${r2(uni(rng, 0.15, 0.45))}"/>` : '';
  const blur = rng() < 0.25 ? r2(uni(rng, 0.3, 1.0)) : 0;
  const blurDef = blur ? `<defs><filter id="b${id}" x="0" y="0" width="100%" height="100%"><feGaussianBlur stdDeviation="${blur}"/></filter></defs>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 100 100">${blurDef}
  <g${blur ? ` filter="url(#b${id})"` : ''}>
  ${bg}${behind}${distractor}
  <g transform="translate(${r2(tx + 2)},${r2(ty + 3)}) rotate(${r2(rot)}) scale(${r2(scale)})" opacity="${shadow}" filter="none"><g fill="#000" stroke="none">${item.replace(/fill="[^"]*"/g, 'fill="#000"').replace(/stroke="[^"]*"/g, 'stroke="#000"')}</g></g>
  <g transform="translate(${r2(tx)},${r2(ty)}) rotate(${r2(rot)}) scale(${r2(scale)})">${item}</g>
  ${occluder}${light}${haze}${front}
  </g>
</svg>`;
}

export async function renderSynthPng(cls: SynthClass, seed: number, size: number): Promise<Buffer> {
  const svg = synthSvg(cls, seed, size);
  return sharp(Buffer.from(svg), { density: 72 })
    .resize(size, size, { fit: 'fill' })
    .removeAlpha()
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
}
