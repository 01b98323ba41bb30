// bench_ort.js - ONNX Runtime (onnxruntime-node, CPU) forward timings to set next to gcbench:
// the median of --reps runs after one warm-up, batch 1, a random 224x224 input, intra-op
// threads as given (default 2), graph optimisations on (ORT's default, "all").
// Development only. Setup (outside the repository):
//   mkdir -p /work/ort && cd /work/ort && npm install --ignore-scripts onnxruntime-node
//   /usr/bin/python3 tests/ref/export_onnx.py /tmp/onnx --model resnet50
//   NODE_PATH=/work/ort/node_modules node tests/ref/bench_ort.js /tmp/onnx/resnet50_op13.onnx [--threads 2] [--reps 15]
const ort = require('onnxruntime-node');

async function main() {
    const args = process.argv.slice(2);
    const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
    const threads = opt('--threads', 2), reps = opt('--reps', 15), size = opt('--size', 224);
    const files = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
    for (const file of files) {
        const s = await ort.InferenceSession.create(file, {intraOpNumThreads: threads, interOpNumThreads: 1,
                                                            executionMode: 'sequential'});
        const x = new Float32Array(3 * size * size);
        let seed = 3;
        for (let i = 0; i < x.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; x[i] = seed / 2147483648 - 0.5; }
        const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, size, size])};
        await s.run(feeds);
        const ts = [];
        for (let r = 0; r < reps; r++) {
            const t0 = process.hrtime.bigint();
            await s.run(feeds);
            ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
        }
        ts.sort((a, b) => a - b);
        const med = ts.length % 2 ? ts[(ts.length - 1) / 2] : (ts[ts.length / 2 - 1] + ts[ts.length / 2]) / 2;
        console.log(JSON.stringify({impl: 'onnxruntime', model: file, task: 'forward', batch: 1, threads,
                                    median_s: +med.toFixed(5), min_s: +ts[0].toFixed(5), max_s: +ts[ts.length - 1].toFixed(5)}));
    }
}
main().catch(e => { console.error('bench_ort:', e.message); process.exit(1); });
