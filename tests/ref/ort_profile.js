// ort_profile.js - ONNX Runtime's own per-node profile, summed per operator the way
// tools/gcprof sums ours: each node's fastest time over --reps runs (batch 1, a fixed
// pseudo-random input, graph optimisations on, so fused nodes such as Conv+Clip count once).
// Development only. Setup as in bench_ort.js, then
//   NODE_PATH=/work/ort/node_modules node tests/ref/ort_profile.js MODEL.onnx [--threads 1] [--reps 30]
//       [--size 224] [--nodes]
// and set the output next to `tools/gcprof MODEL.gcw --threads 1 [--layers]`.
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
    const args = process.argv.slice(2);
    const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
    const threads = opt('--threads', 1), reps = opt('--reps', 30), size = opt('--size', 224);
    const file = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--') && args[i - 1] !== '--nodes'));
    if (!file) throw new Error('usage: ort_profile.js MODEL.onnx [--threads N] [--reps N] [--size S] [--nodes]');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_profile-'));
    const s = await ort.InferenceSession.create(file, {intraOpNumThreads: threads, interOpNumThreads: 1,
                                                        executionMode: 'sequential', enableProfiling: true,
                                                        profileFilePrefix: path.join(dir, 'p')});
    const x = new Float32Array(3 * size * size);
    let seed = 3;
    for (let i = 0; i < x.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; x[i] = seed / 2147483648 - 0.5; }
    const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, size, size])};
    for (let r = 0; r <= reps; r++) await s.run(feeds); // run 0 warms up, then --reps timed
    const out = s.endProfiling();
    const events = JSON.parse(fs.readFileSync(fs.existsSync(out) ? out : path.join(dir, fs.readdirSync(dir)[0])));
    fs.rmSync(dir, {recursive: true, force: true});
    const nodes = new Map(); // name -> {op, times}
    for (const e of events) {
        if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
        const n = nodes.get(e.name) || {op: e.args.op_name, times: []};
        n.times.push(e.dur);
        nodes.set(e.name, n);
    }
    const perOp = new Map();
    let total = 0;
    for (const [name, n] of nodes) {
        const best = Math.min(...n.times.slice(1)) / 1000; // ms; the warm-up run dropped
        perOp.set(n.op, (perOp.get(n.op) || 0) + best);
        total += best;
        n.best = best;
    }
    console.log(`${file}: batch 1, ${size}x${size}, ${threads} thread(s), ${reps} runs, fastest per node (ms)`);
    for (const [op, t] of [...perOp].sort((a, b) => b[1] - a[1])) console.log(`${op.padEnd(22)} ${t.toFixed(3).padStart(10)}`);
    console.log(`${'total'.padEnd(22)} ${total.toFixed(3).padStart(10)}`);
    if (args.includes('--nodes'))
        for (const [name, n] of nodes) console.log(`${name.replace(/_kernel_time$/, '').padEnd(72)} ${n.op.padEnd(18)} ${n.best.toFixed(3).padStart(8)}`);
}
main().catch(e => { console.error('ort_profile:', e.message); process.exit(1); });
