import CGlimpseKernels
import GlimpseTensor

/// Winograd convolution F(m×m, 3×3), m = 2 or 4, for 3x3 stride-1 padding-1 layers with
/// enough input channels (the encoder's every layer but the first).
///
/// A direct 3x3 convolution spends 9 multiply-adds per output per input channel;
/// F(4×4, 3×3) spends 36 per 16 outputs (2.25 per output), F(2×2, 3×3) 16 per 4 (4).
/// Work per call:
/// - the weight, once: U[α², C, O] = G·g·Gᵀ (α = m + 2);
/// - per unit of whole tile rows (a fixed number per shape, possibly spanning images):
///   V[α², T, C] = Bᵀ·d·B for its T input tiles (C code, channels-last, vectorised over channels);
///   α² sgemms M[k] (T × O) = V[k] (T × C) · U[k] (C × O), single-threaded BLAS per worker;
///   the output tiles Aᵀ·M·A, moved back to NCHW.
/// Units are spread over the Parallel workers as `Conv2d.forEachGroup` spreads image groups,
/// each on single-threaded BLAS; they depend on the shape only, so results do not depend on
/// the number of workers (checked bitwise for 1 to 4). As on the im2col path, a call whose
/// units run with `Parallel.threadCount` 1 uses the OpenBLAS threads instead, whose sgemm can
/// differ from one thread's in the last bits.
///
/// The input gradient of a stride-1 layer is a forward convolution (`transposedForInputGradient`),
/// so it takes this path too. The weight gradient accumulates dU[k] += dM[k]ᵀ·V[k] over the
/// tiles (dM = A·dY·Aᵀ, the adjoint of the output transform), then dW = Gᵀ·dU·G.
extension Conv2d {
    /// Set to false (once, at start-up) to run every shape through im2col + sgemm:
    /// the benchmarks and tests compare the two paths this way.
    nonisolated(unsafe) public static var winogradEnabled = true

    /// Forces the tile size (2 or 4) for every eligible shape, forward and weight gradient,
    /// or 0 to force im2col; nil keeps the measured per-shape choice. For tests and benchmarks.
    nonisolated(unsafe) public static var winogradTileOverride: Int? = nil

    /// Tiles per sgemm in the forward pass: a unit is the whole tile rows that hold about this
    /// many tiles, or fewer so that a call has at least `WinogradPlan.minimumUnits` units.
    /// Measured best of 64–1024 on the encoder's shapes (128; 256 and 512 lost 3–20%).
    nonisolated(unsafe) public static var winogradTilesPerProduct = 128

    /// Tiles per sgemm in the weight gradient (there the tiles are the inner dimension);
    /// measured best of 128–1024 (128 and 256 within noise, 1024 lost up to 25%).
    nonisolated(unsafe) public static var winogradGradientTilesPerProduct = 256

    /// How the forward pass multiplies the transformed tiles by the transformed weights.
    public enum WinogradProducts: Sendable {
        /// `glimpse_winograd_multiply`: 6 × 16 blocks of AVX2 + FMA on weights packed once, no
        /// packing of the tiles, no zeroing of the products.
        case packed
        /// α² OpenBLAS sgemms per unit of tiles.
        case sgemm
    }

    /// The measured choice for this process: `.packed` on CPUs with AVX2 + FMA whose OpenBLAS
    /// runs 256-bit kernels (Haswell or Zen class: Zen 3, and Zen 4, which gets Haswell kernels);
    /// `.sgemm` where OpenBLAS runs AVX-512 kernels (which have twice the width of this kernel)
    /// or the CPU lacks AVX2 + FMA. Measured on AMD EPYC Zen 3, one thread, the products of
    /// batch-1 and batch-32 units: 1.12–1.29x OpenBLAS's Zen kernels (see Docs/performance.md).
    nonisolated(unsafe) public static var winogradProducts: WinogradProducts = {
        BLAS.selectKernels()
        let vectorized = glimpse_winograd_multiply_vectorized() != 0
        return vectorized && BLASKernelLevel(coreName: BLAS.coreName) <= .avx2 ? .packed : .sgemm
    }()

    /// Whether the layer's shape allows Winograd at all: 3x3, stride 1, padding 1, C ≥ 8.
    /// With fewer input channels the sgemms are too thin (the first layer, C = 3, has its direct kernel).
    var isWinogradShape: Bool {
        kernelHeight == 3 && kernelWidth == 3 && stride == 1 && padding == 1 && inputChannels >= 8
    }

    /// The output tile m for the forward pass over `input`, or nil for im2col + sgemm.
    func winogradForwardTile(for input: Tensor) -> Int? {
        guard Conv2d.winogradEnabled && isWinogradShape && input.rank == 4 else { return nil }
        if let forced = Conv2d.winogradTileOverride { return forced == 0 ? nil : forced }
        return Conv2d.measuredForwardTile(channels: inputChannels, outputs: outputChannels,
                                          height: input.shape[2], width: input.shape[3], batch: input.shape[0])
    }

    /// The output tile m for the weight gradient, or nil for im2col + sgemm.
    func winogradWeightGradientTile(for input: Tensor) -> Int? {
        guard Conv2d.winogradEnabled && isWinogradShape && input.rank == 4 else { return nil }
        if let forced = Conv2d.winogradTileOverride { return forced == 0 ? nil : forced }
        return Conv2d.measuredWeightGradientTile(channels: inputChannels, outputs: outputChannels,
                                                 height: input.shape[2], width: input.shape[3], batch: input.shape[0])
    }

    /// The per-shape choice, measured on the encoder's shapes (C, O from 32 to 256; 16² to 128²;
    /// batch 1, 2, 4 and 32) on an AMD EPYC (Zen 4, AVX-512) with 2 workers, interleaved:
    /// F(4x4) was the fastest from 1024 output pixels per call up (batch 32: 2.1–2.8x over
    /// im2col + sgemm, F(2x2) 1.5–2.0x; batch 1 from 32² up: 1.7–4x). Below that (batch 1 or 2
    /// at 16², 4–8 tiles per sgemm) F(4x4) fell to 0.7–1.1x and F(2x2) won (1.2–1.5x). The weight
    /// gradient was measured at batch 32 only and follows the same rule.
    static func measuredForwardTile(channels: Int, outputs: Int, height: Int, width: Int, batch: Int) -> Int? {
        let pixels = batch * height * width
        return pixels >= 1024 ? 4 : pixels >= 256 ? 2 : nil
    }

    static func measuredWeightGradientTile(channels: Int, outputs: Int, height: Int, width: Int, batch: Int) -> Int? {
        measuredForwardTile(channels: channels, outputs: outputs, height: height, width: width, batch: batch)
    }

    /// The Winograd forward pass (see the type's comment); bias added, then ReLU when `rectified`,
    /// in the output transform. `weights` are the layer's transformed weights for this tile when
    /// the caller keeps them (inference: `FusedConvolution`); otherwise they are made per call.
    func forwardWinograd(_ input: Tensor, tile: Int, tilesPerProduct: Int = Conv2d.winogradTilesPerProduct,
                         rectified: Bool = false, weights: WinogradWeights? = nil) -> Tensor {
        precondition(input.rank == 4 && input.shape[1] == inputChannels,
                     "Conv2d(\(inputChannels) -> \(outputChannels)) needs [B, \(inputChannels), H, W], got \(input.shape)")
        let plan = WinogradPlan(tile: tile, batch: input.shape[0], height: input.shape[2], width: input.shape[3],
                                tilesPerProduct: tilesPerProduct)
        let (channels, outputs, positions) = (inputChannels, outputChannels, plan.positions)
        let weights = weights ?? WinogradWeights(self, tile: tile)
        precondition(weights.tile == tile && weights.channels == channels && weights.outputs == outputs,
                     "Winograd weights for another layer or tile")
        let biasValues = bias?.scalars
        let inputCount = positions * channels * plan.leading, productCount = positions * outputs * plan.leading
        let scratchCount = glimpse_winograd_scratch_count(Int32(tile), Int32(plan.width), Int32(max(channels, outputs)))
        return Tensor(overwriting: [plan.batch, outputs, plan.height, plan.width], with: { output in
            input.withUnsafeBufferPointer { input in
                withOptionalPointer(biasValues) { bias in
                    Conv2d.forEachGroup(plan.unitCount) { unit in
                        let rows = plan.tileRows(ofUnit: unit)
                        let transformed = BufferPool.shared.allocate(count: inputCount)
                        defer { BufferPool.shared.release(transformed, count: inputCount) }
                        let products = BufferPool.shared.allocate(count: productCount)
                        defer { BufferPool.shared.release(products, count: productCount) }
                        let scratch = BufferPool.shared.allocate(count: scratchCount)
                        defer { BufferPool.shared.release(scratch, count: scratchCount) }
                        glimpse_winograd_transform_input(Int32(tile), input.baseAddress!, Int32(channels), Int32(plan.height),
                                                         Int32(plan.width), Int32(rows.lowerBound), Int32(rows.count),
                                                         transformed, plan.leading, scratch)
                        weights.multiply(transformed, leading: plan.leading, tiles: rows.count * plan.tilesX,
                                         into: products)
                        glimpse_winograd_transform_output(Int32(tile), products, plan.leading, Int32(outputs),
                                                          Int32(plan.height), Int32(plan.width), Int32(rows.lowerBound),
                                                          Int32(rows.count), bias, rectified ? 1 : 0,
                                                          output.baseAddress!, scratch)
                    }
                }
            }
        })
    }

    /// dW += Gᵀ·(Σ over tiles of dM[k]ᵀ·V[k])·G (and db): the same fixed chunks of units as
    /// the im2col path's image groups, one partial dU each, added in order.
    func backwardWeightsWinograd(_ outputGradient: Tensor, cache: Cache, into gradients: inout Gradients, tile: Int,
                                 tilesPerProduct: Int = Conv2d.winogradGradientTilesPerProduct) {
        let input = cache.input
        let plan = WinogradPlan(tile: tile, batch: input.shape[0], height: input.shape[2], width: input.shape[3],
                                tilesPerProduct: tilesPerProduct)
        let (channels, outputs, positions) = (inputChannels, outputChannels, plan.positions)
        precondition(outputGradient.shape == [plan.batch, outputs, plan.height, plan.width],
                     "Conv2d backward: output gradient \(outputGradient.shape) does not match the forward output")
        let chunkCount = min(plan.unitCount, Conv2d.weightGradientChunks)
        let transformedCount = positions * outputs * channels
        let partials = BufferPool.shared.allocate(count: chunkCount * transformedCount)
        defer { BufferPool.shared.release(partials, count: chunkCount * transformedCount) }
        let inputCount = positions * channels * plan.leading, gradientCount = positions * outputs * plan.leading
        let scratchCount = glimpse_winograd_scratch_count(Int32(tile), Int32(plan.width), Int32(max(channels, outputs)))
        input.withUnsafeBufferPointer { input in
            outputGradient.withUnsafeBufferPointer { dOutput in
                Conv2d.forEachGroup(chunkCount) { chunk in
                    let transformed = BufferPool.shared.allocate(count: inputCount)
                    defer { BufferPool.shared.release(transformed, count: inputCount) }
                    let transformedGradient = BufferPool.shared.allocate(count: gradientCount)
                    defer { BufferPool.shared.release(transformedGradient, count: gradientCount) }
                    let scratch = BufferPool.shared.allocate(count: scratchCount)
                    defer { BufferPool.shared.release(scratch, count: scratchCount) }
                    let partial = partials + chunk * transformedCount
                    let units = (chunk * plan.unitCount / chunkCount)..<((chunk + 1) * plan.unitCount / chunkCount)
                    for unit in units {
                        let rows = plan.tileRows(ofUnit: unit)
                        glimpse_winograd_transform_input(Int32(tile), input.baseAddress!, Int32(channels), Int32(plan.height),
                                                         Int32(plan.width), Int32(rows.lowerBound), Int32(rows.count),
                                                         transformed, plan.leading, scratch)
                        glimpse_winograd_transform_output_gradient(Int32(tile), dOutput.baseAddress!, Int32(outputs),
                                                                   Int32(plan.height), Int32(plan.width),
                                                                   Int32(rows.lowerBound), Int32(rows.count),
                                                                   transformedGradient, plan.leading, scratch)
                        let tiles = rows.count * plan.tilesX
                        for position in 0..<positions {
                            // dU[k] (O × C) (+)= dM[k] (T × O)ᵀ · V[k] (T × C)
                            BLAS.sgemm(transposeA: true, transposeB: false, m: outputs, n: channels, k: tiles,
                                       a: transformedGradient + position * plan.leading * outputs, lda: outputs,
                                       b: transformed + position * plan.leading * channels, ldb: channels,
                                       beta: unit == units.lowerBound ? 0 : 1,
                                       c: partial + position * outputs * channels, ldc: channels)
                        }
                    }
                }
            }
        }
        for chunk in 1..<max(1, chunkCount) {
            let partial = partials + chunk * transformedCount
            for index in 0..<transformedCount { partials[index] += partial[index] }
        }
        let weightScratchCount = glimpse_winograd_weight_scratch_count(Int32(tile), Int32(outputs), Int32(channels))
        let weightScratch = BufferPool.shared.allocate(count: weightScratchCount)
        defer { BufferPool.shared.release(weightScratch, count: weightScratchCount) }
        gradients.weight.withUnsafeMutableBufferPointer { dWeight in
            glimpse_winograd_weight_gradient(Int32(tile), partials, Int32(outputs), Int32(channels), dWeight.baseAddress!,
                                             weightScratch)
        }
        if gradients.bias != nil {
            gradients.bias!.add(outputGradient.sum(alongAxes: [0, 2, 3]), scaledBy: 1)
        }
    }
}

/// A layer's weights in the Winograd domain for one tile size, U[α², C, O], in the layout
/// its products read: packed panels for `glimpse_winograd_multiply` when that kernel is in
/// use (`Conv2d.winogradProducts`), the plain matrices for sgemm otherwise.
///
/// Made per call in training (the weights change every step); kept per model for inference
/// (`FusedConvolution`), where making them was 9% of the CPU time of captioning one image.
final class WinogradWeights: @unchecked Sendable {
    let tile, channels, outputs: Int
    let kernel: Conv2d.WinogradProducts
    private let values: UnsafeMutablePointer<Float>
    private let count: Int

    /// The memory is a pooled buffer, given back when the weights go.
    /// `outputScale`: multiplies each output channel's transformed weights (U(W)·s = U(W·s) up to
    /// rounding), so that a BatchNorm is folded in without a scaled copy of W.
    init(_ layer: Conv2d, tile: Int, kernel: Conv2d.WinogradProducts = Conv2d.winogradProducts,
         outputScale: [Float]? = nil) {
        precondition(outputScale == nil || outputScale!.count == layer.outputChannels, "one scale per output channel")
        (self.tile, channels, outputs, self.kernel) = (tile, layer.inputChannels, layer.outputChannels, kernel)
        let (tile32, outputs32, channels32) = (Int32(tile), Int32(outputs), Int32(channels))
        switch kernel {
        case .sgemm:
            count = (tile + 2) * (tile + 2) * channels * outputs
            let scratchCount = glimpse_winograd_weight_scratch_count(tile32, outputs32, channels32)
            values = BufferPool.shared.allocate(count: count)
            let scratch = BufferPool.shared.allocate(count: scratchCount)
            defer { BufferPool.shared.release(scratch, count: scratchCount) }
            layer.weight.withUnsafeBufferPointer { weight in
                glimpse_winograd_transform_weights(tile32, weight.baseAddress!, outputs32, channels32, values, scratch)
            }
            if let outputScale {
                // values[k][c][o]
                for row in 0..<(count / outputs) {
                    for output in 0..<outputs { values[row * outputs + output] *= outputScale[output] }
                }
            }
        case .packed:
            count = glimpse_winograd_packed_weights_count(tile32, outputs32, channels32)
            let scratchCount = glimpse_winograd_packed_weights_scratch_count(tile32, outputs32, channels32)
            let values = BufferPool.shared.allocate(count: count)
            self.values = values
            // Input channels split over the workers (each writes its own channels' rows).
            let (channelCount, parts) = (layer.inputChannels, min(layer.inputChannels, Parallel.threadCount))
            layer.weight.withUnsafeBufferPointer { weight in
                withOptionalPointer(outputScale) { scale in
                    Parallel.forEach(parts) { part in
                        let range = (part * channelCount / parts)..<((part + 1) * channelCount / parts)
                        let scratch = BufferPool.shared.allocate(count: scratchCount)
                        defer { BufferPool.shared.release(scratch, count: scratchCount) }
                        glimpse_winograd_transform_weights_packed(tile32, weight.baseAddress!, outputs32, channels32,
                                                                  Int32(range.lowerBound), Int32(range.count), scale,
                                                                  values, scratch)
                    }
                }
            }
        }
    }

    deinit { BufferPool.shared.release(values, count: count) }

    /// M[k] (T × O) = V[k] (T × C) · U[k] (C × O) for every position k, V and M with
    /// `leading` rows per position (the unit's transformed input and products).
    func multiply(_ transformed: UnsafeMutablePointer<Float>, leading: Int, tiles: Int,
                  into products: UnsafeMutablePointer<Float>) {
        switch kernel {
        case .packed:
            glimpse_winograd_multiply(Int32(tile), transformed, leading, Int32(tiles), Int32(channels), values,
                                      Int32(outputs), products)
        case .sgemm:
            for position in 0..<(tile + 2) * (tile + 2) {
                BLAS.sgemm(transposeA: false, transposeB: false, m: tiles, n: outputs, k: channels,
                           a: transformed + position * leading * channels, lda: channels,
                           b: values + position * channels * outputs, ldb: outputs,
                           c: products + position * leading * outputs, ldc: outputs)
            }
        }
    }
}

/// How one Winograd call splits the batch: tile rows numbered over the whole batch
/// (row r is image r / tilesY), cut into units of `rowsPerUnit` rows (the last may be short).
struct WinogradPlan {
    let tile, batch, height, width: Int
    let tilesY, tilesX, rowsPerUnit, unitCount: Int

    init(tile: Int, batch: Int, height: Int, width: Int, tilesPerProduct: Int) {
        precondition(tile == 2 || tile == 4, "Winograd tiles are 2 or 4 outputs wide, not \(tile)")
        self.tile = tile
        self.batch = batch
        self.height = height
        self.width = width
        tilesY = (height + tile - 1) / tile
        tilesX = (width + tile - 1) / tile
        let totalRows = batch * tilesY
        // At least `minimumUnits` units when there are the tile rows, so that one image still
        // keeps both cores busy.
        let forProduct = (tilesPerProduct + tilesX - 1) / tilesX
        let forWorkers = (totalRows + WinogradPlan.minimumUnits - 1) / WinogradPlan.minimumUnits
        rowsPerUnit = max(1, min(forProduct, forWorkers))
        unitCount = (totalRows + rowsPerUnit - 1) / rowsPerUnit
    }

    /// 2 (one per core here) rather than 4: batch 1 at 16² and 32² ran 0–10% faster with the
    /// larger sgemms (measured interleaved, 3 rounds; within noise at 64² and up).
    static let minimumUnits = 2

    /// α²: transformed positions per tile.
    var positions: Int { (tile + 2) * (tile + 2) }
    /// Columns of one unit's transformed matrices.
    var leading: Int { rowsPerUnit * tilesX }

    func tileRows(ofUnit unit: Int) -> Range<Int> {
        let first = unit * rowsPerUnit
        return first..<min(batch * tilesY, first + rowsPerUnit)
    }
}

/// Calls `body` with the array's base address, or nil.
private func withOptionalPointer<Result>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> Result) -> Result {
    guard let values else { return body(nil) }
    return values.withUnsafeBufferPointer { body($0.baseAddress) }
}
