import Foundation
import GlimpseData
import GlimpseImage
import GlimpseLayers
import GlimpseModel
import GlimpseSafeTensors
import GlimpseTensor

/// The Glimpse half of Scripts/side_by_side.py: one measurement per process, so that the
/// process's peak RSS belongs to that measurement alone. Runs after the header (CPU and
/// OpenBLAS kernels) and prints one `RESULT {json}` line for the runner.
///
///     glimpse-benchmarks --side-by-side train --images DIR --captions-file TSV --captions-per-image 1|5
///                        [--model M] [--batch 32] [--warmup 2] [--steps 5]
///     glimpse-benchmarks --side-by-side latency IMAGE [--model M] [--beam K] [--warmup 3] [--repeats 20]
///     glimpse-benchmarks --side-by-side features --state-dict R.safetensors --images DIR [--batch 16] [--size 224]
///                        [--warmup 2] [--repeats 5]
///     glimpse-benchmarks --side-by-side decoder [--arch resnet50] [--batch 32] [--captions-per-image 5] [--steps 5]
///                        [--fine-tune-from-stage S [--augment]]
///
/// `train`: `Trainer.step` (Adam 1e-3, clipping at Trainer's default norm 5, BatchNorm
/// in training mode, dropout) on the model's own weights, one fixed batch of the first
/// `--batch` images of the captions file (decoded and preprocessed once, untimed).
/// `latency`: one image from its file, as `glimpse caption` does it: decode →
/// Preprocessing → encoder → CaptionSearch, with the command's decoding options.
/// `features`: a torchvision ResNet state dict imported as `glimpse import-encoder` does, then
/// the encoder's forward pass on one fixed batch of the folder's first `--batch` images
/// (decoded and preprocessed once, untimed: Resize(⌊size·8/7⌋) + CenterCrop(size)).
/// `decoder`: `Trainer.step` on a batch of cached features, as `glimpse train --encoder` trains
/// from its feature cache: the default decoder (E 128, A 128, H 256) on 7 × 7 features of the
/// architecture's D, a 3 000-word vocabulary, captions of 8 to 14 words, all seeded. With
/// `--fine-tune-from-stage S` the ResNet's stages from S on train too, from their cached input;
/// with `--augment` as well, from 224 × 224 pixels through the frozen stages every step.
struct SideBySideOptions {
    enum Mode: String { case train, latency, features, decoder }
    var mode: Mode
    var modelPath: String
    var imagesFolder: String?
    var captionsFile: String?
    var captionsPerImage = 5
    var batch = 32
    var warmup: Int?
    var steps = 5
    var repeats = 20
    var beam = 1
    var image: String?
    var stateDict: String?
    var size = 224
    /// `features --layers`: each convolution's time and GFLOP/s on this batch, for tuning.
    var layers = false
    /// `decoder`: whose features (D) the decoder trains on.
    var architecture = ResNetArchitecture.resnet50
    /// `decoder`: the first ResNet stage that trains with the decoder.
    var fineTuneFromStage: Int?
    /// `decoder` with `fineTuneFromStage`: pixels through the frozen stages every step.
    var augment = false

    /// The shipped model, as SwiftPM copies it beside the executables (glimpse's own lookup).
    static var defaultModelPath: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return (executable as NSString).deletingLastPathComponent
            + "/glimpse_GlimpseCaptioning.resources/Resources/default-model.safetensors"
    }

    init(_ arguments: [String]) {
        func fail(_ message: String) -> Never {
            print("glimpse-benchmarks --side-by-side: \(message)")
            exit(2)
        }
        guard let first = arguments.first, let mode = Mode(rawValue: first) else {
            fail("give a mode: train, latency or features")
        }
        self.mode = mode
        modelPath = Self.defaultModelPath
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            func text() -> String {
                index += 1
                guard index < arguments.count else { fail("\(argument) needs a value") }
                return arguments[index]
            }
            func number() -> Int {
                let value = text()
                guard let number = Int(value), number >= 0 else { fail("\(argument) needs a whole number, got \(value)") }
                return number
            }
            switch argument {
            case "--model": modelPath = text()
            case "--images": imagesFolder = text()
            case "--captions-file": captionsFile = text()
            case "--captions-per-image": captionsPerImage = number()
            case "--batch": batch = number()
            case "--warmup": warmup = number()
            case "--steps": steps = number()
            case "--repeats": repeats = number()
            case "--beam": beam = number()
            case "--state-dict": stateDict = text()
            case "--size": size = number()
            case "--layers": layers = true
            case "--fine-tune-from-stage": fineTuneFromStage = number()
            case "--augment": augment = true
            case "--arch":
                let name = text()
                guard let known = ResNetArchitecture(rawValue: name) else { fail("--arch takes resnet18, resnet34 or resnet50") }
                architecture = known
            default:
                if argument.hasPrefix("--") || image != nil { fail("unknown argument \(argument)") }
                image = argument
            }
            index += 1
        }
        switch mode {
        case .train:
            if imagesFolder == nil || captionsFile == nil { fail("train needs --images DIR and --captions-file TSV") }
            if captionsPerImage < 1 || batch < 1 || steps < 1 { fail("--captions-per-image, --batch and --steps must be positive") }
        case .latency:
            if image == nil { fail("latency needs an IMAGE") }
            if beam < 1 || repeats < 1 { fail("--beam and --repeats must be positive") }
        case .decoder:
            if batch < 1 || steps < 1 || captionsPerImage < 1 { fail("--batch, --steps and --captions-per-image must be positive") }
            if let stage = fineTuneFromStage, !(1...4).contains(stage) { fail("--fine-tune-from-stage takes 1 to 4") }
            if augment && fineTuneFromStage == nil { fail("--augment needs --fine-tune-from-stage") }
        case .features:
            if stateDict == nil || imagesFolder == nil { fail("features needs --state-dict FILE and --images DIR") }
            if batch < 1 || repeats < 1 || size < 32 { fail("--batch and --repeats must be positive, --size at least 32") }
        }
    }
}

/// Process CPU time (all threads) and peak RSS, from getrusage.
private func processUsage() -> (cpuSeconds: Double, peakRSSKilobytes: Int, minorFaults: Int) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
    return (cpu, usage.ru_maxrss, usage.ru_minflt)
}

private func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// One machine-readable line for the runner.
private func printResult(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print("RESULT " + String(decoding: data, as: UTF8.self))
}

private func loadCheckpoint(_ path: String) -> Checkpoint {
    do {
        return try Checkpoint(contentsOf: path)
    } catch {
        print("glimpse-benchmarks: \(error)")
        exit(1)
    }
}

/// The model input for the image at `path`: decode, then the checkpoint's preprocessing
/// (the steps of `glimpse caption`'s `Captioner.prepare`).
private func prepare(_ path: String, decoder: ImageDecoder, preprocessing: Preprocessing) -> [Float] {
    do {
        return preprocessing(try decoder.decode(contentsOf: path).image)
    } catch {
        print("glimpse-benchmarks: \(error)")
        exit(1)
    }
}

func runSideBySide(_ arguments: [String]) {
    let options = SideBySideOptions(arguments)
    switch options.mode {
    case .train: sideBySideTraining(options)
    case .latency: sideBySideLatency(options)
    case .features: sideBySideFeatures(options)
    case .decoder: sideBySideDecoder(options)
    }
}

/// Training throughput: images per second over `steps` timed `Trainer.step`s after `warmup`.
private func sideBySideTraining(_ options: SideBySideOptions) {
    let checkpoint = loadCheckpoint(options.modelPath)
    let size = checkpoint.preprocessing.imageSize
    // Captions file: one caption per line, `file<TAB>id id id` (the runner tokenises once for both sides).
    guard let text = try? String(contentsOfFile: options.captionsFile!, encoding: .utf8) else {
        print("glimpse-benchmarks: cannot read \(options.captionsFile!)")
        exit(1)
    }
    var files: [String] = []
    var captionsByFile: [String: [[Int32]]] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard parts.count == 2 else { continue }
        let file = String(parts[0])
        if captionsByFile[file] == nil { files.append(file) }
        captionsByFile[file, default: []].append(parts[1].split(separator: " ").map { Int32($0)! })
    }
    guard files.count >= options.batch else {
        print("glimpse-benchmarks: \(options.captionsFile!) names \(files.count) images, fewer than --batch \(options.batch)")
        exit(1)
    }
    let chosen = Array(files.prefix(options.batch))
    let decoder = ImageDecoder()
    let inputs = chosen.map { prepare(options.imagesFolder! + "/" + $0, decoder: decoder, preprocessing: checkpoint.preprocessing) }
    let images = Tensor(shape: [chosen.count, 3, size, size], scalars: inputs.flatMap { $0 })
    var captions: [CaptionBatch.Caption] = []
    for (index, file) in chosen.enumerated() {
        for tokens in captionsByFile[file]!.prefix(options.captionsPerImage) {
            captions.append(CaptionBatch.Caption(imageIndex: index, tokens: tokens))
        }
    }
    let batch = CaptionBatch(images: images, captions: captions)
    var trainer = Trainer(model: checkpoint.model, optimizer: Adam(learningRate: 1e-3))
    var generator = SeededGenerator(seed: 7)

    var losses: [Float] = []
    var warmups: [Double] = []
    for _ in 0..<(options.warmup ?? 2) {
        let stepStart = seconds()
        losses.append(trainer.step(batch, using: &generator).loss)
        warmups.append(seconds() - stepStart)
    }
    var walls: [Double] = []
    let startUsage = processUsage()
    let start = seconds()
    for _ in 0..<options.steps {
        let stepStart = seconds()
        losses.append(trainer.step(batch, using: &generator).loss)
        walls.append(seconds() - stepStart)
    }
    let wall = seconds() - start
    let endUsage = processUsage()
    let imageCount = Double(chosen.count * options.steps)
    print(String(format: "train %d images x %d caption(s), %d tokens: %.1f images/s over %d steps (median step %.0f ms), "
                    + "%.0f ms CPU per step, peak RSS %.0f MB",
                 chosen.count, options.captionsPerImage, batch.tokenCount, imageCount / wall, options.steps,
                 median(walls) * 1000, (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.steps) * 1000,
                 Double(endUsage.peakRSSKilobytes) / 1024))
    printResult([
        "side": "glimpse", "mode": "train", "images": chosen.count, "captions_per_image": options.captionsPerImage,
        "tokens": batch.tokenCount, "steps": options.steps, "images_per_second": imageCount / wall,
        "median_step_ms": median(walls) * 1000,
        "cpu_ms_per_step": (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.steps) * 1000,
        "minor_faults_per_step": Double(endUsage.minorFaults - startUsage.minorFaults) / Double(options.steps),
        "peak_rss_mb": Double(endUsage.peakRSSKilobytes) / 1024, "first_loss": Double(losses.first ?? .nan),
        "last_loss": Double(losses.last ?? .nan), "step_ms": walls.map { ($0 * 10000).rounded() / 10 },
        "warmup_ms": warmups.map { ($0 * 10000).rounded() / 10 },
    ])
}

/// Single-image latency from the file, in-process: the median over `repeats` after `warmup`.
private func sideBySideLatency(_ options: SideBySideOptions) {
    let checkpoint = loadCheckpoint(options.modelPath)
    let size = checkpoint.preprocessing.imageSize
    let decoder = ImageDecoder()
    // `glimpse caption`'s options: SearchOptions.decodingOptions with its defaults (<unk> suppressed).
    let decoding = DecodingOptions(beamSize: options.beam, maximumLength: 30, lengthNormalization: nil, nBest: 1,
                                   suppressUnknown: true, keepsAttention: false)
    func captionOnce() -> CaptionResult {
        let input = prepare(options.image!, decoder: decoder, preprocessing: checkpoint.preprocessing)
        return checkpoint.model.caption(Tensor(shape: [1, 3, size, size], scalars: input), options: decoding)[0]
    }
    var caption = captionOnce()
    for _ in 1..<max(1, options.warmup ?? 3) { caption = captionOnce() }
    var times: [Double] = []
    let startUsage = processUsage()
    for _ in 0..<options.repeats {
        let start = seconds()
        caption = captionOnce()
        times.append(seconds() - start)
    }
    let endUsage = processUsage()
    let words = checkpoint.vocabulary.decode(caption.best.tokens).joined(separator: " ")
    print(String(format: "latency, beam %d: median %.2f ms over %d (min %.2f), %.2f ms CPU each: %@", options.beam,
                 median(times) * 1000, options.repeats, times.min()! * 1000,
                 (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.repeats) * 1000, words))
    printResult([
        "side": "glimpse", "mode": "latency", "beam": options.beam, "repeats": options.repeats,
        "median_ms": median(times) * 1000, "min_ms": times.min()! * 1000,
        "cpu_ms": (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.repeats) * 1000,
        "caption": words, "peak_rss_mb": Double(endUsage.peakRSSKilobytes) / 1024,
    ])
}

/// Feature extraction throughput: images per second of the ResNet encoder's forward pass,
/// the median batch time over `repeats` after `warmup`.
private func sideBySideFeatures(_ options: SideBySideOptions) {
    let encoder: ResNetEncoder
    do {
        let file = try SafeTensorsFile(contentsOf: options.stateDict!)
        encoder = try ResNetWeights.importTorchvision(file, architecture: ResNetWeights.architecture(of: file),
                                                      gridSize: options.size / 32)
    } catch {
        print("glimpse-benchmarks: \(error)")
        exit(1)
    }
    let folder = options.imagesFolder!
    let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
    guard files.count >= options.batch else {
        print("glimpse-benchmarks: \(folder) has \(files.count) images, fewer than --batch \(options.batch)")
        exit(1)
    }
    let preprocessing = Preprocessing(imageSize: options.size, resizeShortSide: options.size * 8 / 7)
    let decoder = ImageDecoder()
    let inputs = files.prefix(options.batch).map { prepare(folder + "/" + $0, decoder: decoder, preprocessing: preprocessing) }
    let images = Tensor(shape: [options.batch, 3, options.size, options.size], scalars: inputs.flatMap { $0 })
    if options.layers { printLayerTimes(encoder, images: images, repeats: options.repeats) }
    var features = encoder(images)
    for _ in 1..<max(1, options.warmup ?? 2) { features = encoder(images) }
    var times: [Double] = []
    let startUsage = processUsage()
    for _ in 0..<options.repeats {
        let start = seconds()
        features = encoder(images)
        times.append(seconds() - start)
    }
    let endUsage = processUsage()
    let checksum = features.sum()
    // The machine's sgemm peak in this same process, on the cores the encoder used.
    let peak = SgemmPeak(repeats: 5, threads: Parallel.threadCount, workers: Parallel.threadCount)
    let gigaflops = convolutionFlops(encoder, size: options.size) * Double(options.batch) / median(times) / 1e9
    print(peak.summary)
    print(String(format: "features, %@ at %d, batch %d: %.1f images/s (median batch %.0f ms, min %.0f), %.0f ms CPU per batch, "
                    + "%.1f GFLOP/s = %.2f of the sgemm peak, peak RSS %.0f MB, checksum %.6g", encoder.architecture.rawValue,
                 options.size, options.batch, Double(options.batch) / median(times), median(times) * 1000, times.min()! * 1000,
                 (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.repeats) * 1000, gigaflops,
                 gigaflops / peak.peak, Double(endUsage.peakRSSKilobytes) / 1024, checksum))
    printResult([
        "side": "glimpse", "mode": "features", "arch": encoder.architecture.rawValue, "size": options.size,
        "batch": options.batch, "repeats": options.repeats, "images_per_second": Double(options.batch) / median(times),
        "median_ms": median(times) * 1000, "min_ms": times.min()! * 1000, "feature_sum": checksum,
        "cpu_ms": (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.repeats) * 1000,
        "peak_rss_mb": Double(endUsage.peakRSSKilobytes) / 1024, "gflops": gigaflops, "sgemm_peak_gflops": peak.peak,
    ])
}

/// The multiply-adds (×2) of every convolution of `encoder` on one S × S image, counted directly
/// (output pixels × C·k²): the figure GFLOP/s and the peak ratio are of.
private func convolutionFlops(_ encoder: ResNetEncoder, size: Int) -> Double {
    func side(_ input: Int, _ layer: Conv2d) -> Int { (input + 2 * layer.padding - layer.kernelHeight) / layer.stride + 1 }
    func flops(_ layer: Conv2d, outputSide: Int) -> Double {
        2 * Double(outputSide * outputSide * layer.outputChannels * layer.inputChannels * layer.kernelHeight * layer.kernelWidth)
    }
    var current = side(size, encoder.stem)
    var total = flops(encoder.stem, outputSide: current)
    current = (current + 2 - 3) / 2 + 1 // the 3 × 3/2 max-pool
    for block in encoder.stages.joined() {
        let input = current
        for layer in block.main {
            current = side(current, layer)
            total += flops(layer, outputSide: current)
        }
        if let downsample = block.downsample { total += flops(downsample, outputSide: side(input, downsample)) }
    }
    return total
}

/// Each of the encoder's steps on its own (the median of `repeats`, after one untimed run), in
/// forward order: the convolutions with their shapes and GFLOP/s, the pool and the residual adds.
private func printLayerTimes(_ encoder: ResNetEncoder, images: Tensor, repeats: Int) {
    func time(_ body: () -> Tensor) -> (Tensor, Double) {
        var output = body()
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let start = seconds()
            output = body()
            times.append(seconds() - start)
        }
        return (output, median(times))
    }
    var rows: [(String, Double, Double)] = [] // name, seconds, FLOPs
    func convolution(_ name: String, _ layer: Conv2d, rectified: Bool, _ input: Tensor) -> Tensor {
        let fused = FusedConvolution(layer, rectified: rectified)
        let (output, seconds) = time { fused(input) }
        let flops = 2.0 * Double(output.scalarCount) * Double(layer.inputChannels * layer.kernelHeight * layer.kernelWidth)
        rows.append(("\(name) \(layer.kernelHeight)x\(layer.kernelWidth)/\(layer.stride) \(layer.inputChannels)->\(layer.outputChannels) "
                     + "at \(output.shape[2])", seconds, flops))
        return output
    }
    var activation = convolution("conv1", encoder.stem, rectified: true, images)
    let pool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
    let (pooled, poolSeconds) = time { pool(activation) }
    rows.append(("maxpool", poolSeconds, 0))
    activation = pooled
    var addSeconds = 0.0
    for (stage, blocks) in encoder.stages.enumerated() {
        for (index, block) in blocks.enumerated() {
            var main = activation
            for (layer, convolutionLayer) in block.main.enumerated() {
                main = convolution("layer\(stage + 1).\(index).conv\(layer + 1)", convolutionLayer,
                                   rectified: layer < block.main.count - 1, main)
            }
            let shortcut = block.downsample.map { convolution("layer\(stage + 1).\(index).downsample", $0, rectified: false, activation) }
                ?? activation
            let (sum, seconds) = time { (main + shortcut).map { max(0, $0) } }
            addSeconds += seconds
            activation = sum
        }
    }
    rows.append(("residual adds + ReLU (all blocks, unfused here)", addSeconds, 0))
    let total = rows.reduce(0) { $0 + $1.1 }
    print("layer times, batch \(images.shape[0]) (median of \(max(1, repeats))), total \(String(format: "%.0f", total * 1000)) ms:")
    for (name, seconds, flops) in rows {
        let rate = flops > 0 ? String(format: "%6.1f GFLOP/s", flops / seconds / 1e9) : "              "
        print(String(format: "  %-52@ %8.1f ms %5.1f%%  ", name as NSString, seconds * 1000, 100 * seconds / total) + rate)
    }
}

/// Decoder-only training throughput from cached features: images per second over `steps`
/// timed `Trainer.step`s after `warmup`, OpenBLAS on the run's cores as `glimpse train` sets it.
/// With `fineTuneFromStage`, the ResNet's last stages train too (their convolutions on the Swift
/// workers, each on one OpenBLAS thread, as in `glimpse train`).
private func sideBySideDecoder(_ options: SideBySideOptions) {
    var generator = SeededGenerator(seed: 11)
    let encoder = ResNetEncoder(architecture: options.architecture, gridSize: 7, using: &generator)
    let configuration: ModelConfiguration
    let stage = options.fineTuneFromStage
    do {
        configuration = try ModelConfiguration(
            vocabularySize: 3004, imageSize: 224, stageChannels: [],
            pretrainedEncoder: .init(architecture: options.architecture, gridSize: 7,
                                     digest: ResNetWeights.digest(encoder, frozenBefore: stage), trainableFromStage: stage))
    } catch {
        print("glimpse-benchmarks: \(error)")
        exit(1)
    }
    let model = CaptioningModel(configuration: configuration, pretrainedEncoder: encoder, using: &generator)
    // Post-ReLU, averaged features (or a stage's input): non-negative, about the size a ResNet gives.
    let inputs = options.augment
        ? Tensor(randomUniform: [options.batch, 3, 224, 224], in: -2..<2, using: &generator)
        : Tensor(randomUniform: [options.batch] + model.cachedInputShape, in: 0..<1, using: &generator)
    var captions: [CaptionBatch.Caption] = []
    for image in 0..<options.batch {
        for _ in 0..<options.captionsPerImage {
            let length = 8 + generator.nextIndex(below: 7)
            captions.append(CaptionBatch.Caption(imageIndex: image, tokens: (0..<length).map { _ in Int32(4 + generator.nextIndex(below: 3000)) }))
        }
    }
    let batch = options.augment ? CaptionBatch(images: inputs, captions: captions) : CaptionBatch(features: inputs, captions: captions)
    BLAS.threadCount = Parallel.threadCount
    var trainer = Trainer(model: model, optimizer: Adam(learningRate: 1e-3))
    for _ in 0..<(options.warmup ?? 2) { _ = trainer.step(batch, using: &generator) }
    var walls: [Double] = []
    let startUsage = processUsage()
    let start = seconds()
    for _ in 0..<options.steps {
        let stepStart = seconds()
        _ = trainer.step(batch, using: &generator)
        walls.append(seconds() - stepStart)
    }
    let wall = seconds() - start
    let endUsage = processUsage()
    let imagesPerSecond = Double(options.batch * options.steps) / wall
    let what = stage.map { "layer\($0)+ of \(options.architecture.rawValue) from \(options.augment ? "pixels" : "its cached input") and decoder" }
        ?? "decoder from \(options.architecture.rawValue) features"
    print(String(format: "%@ (P 49, D %d), %d images x %d captions: %.1f images/s (median step %.0f ms), "
                    + "%.0f ms CPU per step", what, configuration.featureSize, options.batch,
                 options.captionsPerImage, imagesPerSecond, median(walls) * 1000,
                 (endUsage.cpuSeconds - startUsage.cpuSeconds) / Double(options.steps) * 1000))
    printResult([
        "side": "glimpse", "mode": "decoder", "arch": options.architecture.rawValue, "images": options.batch,
        "fine_tune_from_stage": stage ?? 0, "augment": options.augment,
        "captions_per_image": options.captionsPerImage, "steps": options.steps, "images_per_second": imagesPerSecond,
        "median_step_ms": median(walls) * 1000, "peak_rss_mb": Double(endUsage.peakRSSKilobytes) / 1024,
    ])
}
