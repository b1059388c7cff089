import GlimpseSupport
/// Renders what the model looked at for each word of a caption: one sheet with the
/// image, then one panel per word showing the attention grid upsampled smoothly over a
/// dimmed copy of the image as a viridis heat-map, each panel labelled with its word.
/// Shared by `glimpse caption --attention-dir` and `glimpse batch --html --attention`.
public enum AttentionSheet {
    /// Longest side of each panel, in pixels.
    public static let panelSize = 160
    /// Panels per row at most.
    public static let panelsPerRow = 5
    /// Space between and around panels.
    public static let gap = 4
    /// Height of the label strip under each panel (7-pixel glyphs plus margins).
    public static let labelHeight = BitmapFont.glyphHeight + 6

    /// The size of the sheet `render` makes for an image of `width`×`height` and `wordCount` words.
    public static func size(imageWidth: Int, imageHeight: Int, wordCount: Int) -> (width: Int, height: Int) {
        let panel = panelDimensions(imageWidth: imageWidth, imageHeight: imageHeight)
        let panels = wordCount + 1
        let columns = min(panelsPerRow, panels)
        let rows = (panels + panelsPerRow - 1) / panelsPerRow
        return (gap + columns * (panel.width + gap), gap + rows * (panel.height + labelHeight + gap))
    }

    static func panelDimensions(imageWidth: Int, imageHeight: Int) -> (width: Int, height: Int) {
        // Keep the aspect ratio; the longer side becomes `panelSize`.
        let longest = max(imageWidth, imageHeight)
        let width = max(1, (imageWidth * panelSize + longest / 2) / longest)
        let height = max(1, (imageHeight * panelSize + longest / 2) / longest)
        return (width, height)
    }

    /// The image at the size of the sheet's panels: `render` of it draws the same sheet as
    /// `render` of `image` itself, so callers can keep this instead of the full image.
    public static func panelImage(_ image: RGBImage) -> RGBImage {
        let panel = panelDimensions(imageWidth: image.width, imageHeight: image.height)
        return Resampler.resize(image, width: panel.width, height: panel.height)
    }

    /// - Parameters:
    ///   - image: the image as decoded (any size), or its `panelImage`.
    ///   - words: the caption's words; `attention[i]` belongs to `words[i]`.
    ///   - attention: per word, α over the grid² locations, row-major.
    ///   - grid: g, the side of the attention grid.
    public static func render(image: RGBImage, words: [String], attention: [[Float]], grid: Int) -> RGBImage {
        precondition(grid > 0, "the attention grid needs a side")
        precondition(attention.count == words.count, "one attention map per word")
        let resized = panelImage(image)
        let panel = (width: resized.width, height: resized.height)
        let size = size(imageWidth: image.width, imageHeight: image.height, wordCount: words.count)
        var sheet = RGBImage(width: size.width, height: size.height, fill: (24, 24, 24))

        let labels = ["image"] + words
        for index in 0..<labels.count {
            let column = index % panelsPerRow, row = index / panelsPerRow
            let left = gap + column * (panel.width + gap)
            let top = gap + row * (panel.height + labelHeight + gap)
            if index == 0 {
                blit(resized, into: &sheet, x: left, y: top)
            } else {
                let map = attention[index - 1]
                precondition(map.count == grid * grid, "attention of word \(index - 1) has \(map.count) values, not \(grid * grid)")
                blit(heatMap(over: resized, attention: map, grid: grid), into: &sheet, x: left, y: top)
            }
            // Labels longer than the panel are cut, so neighbours stay readable.
            let fitting = max(1, (panel.width + 1) / BitmapFont.advance)
            var label = labels[index]
            if label.count > fitting { label = String(label.prefix(fitting)) }
            let labelX = left + max(0, (panel.width - BitmapFont.width(of: label)) / 2)
            BitmapFont.draw(label, into: &sheet, x: labelX, y: top + panel.height + 3, color: (235, 235, 235))
        }
        return sheet
    }

    /// `image` dimmed, with `attention` (g×g) upsampled bilinearly to its size and blended
    /// on top through the colormap. Values are shown as (α − min) / max: a sharp peak
    /// reaches the top of the colormap whatever its absolute weight, while a near-uniform
    /// map stays dark instead of having its noise stretched into false peaks.
    public static func heatMap(over image: RGBImage, attention: [Float], grid: Int) -> RGBImage {
        let peak = max(attention.max() ?? 0, 1e-12)
        let floor = attention.min() ?? 0
        let width = image.width, height = image.height
        var output = image
        // Sample the grid at pixel centres (half-pixel convention, as image resizers do).
        func coordinate(_ pixel: Int, _ extent: Int) -> (Int, Int, Float) {
            let position = (Float(pixel) + 0.5) * Float(grid) / Float(extent) - 0.5
            let clamped = min(max(position, 0), Float(grid - 1))
            let low = Int(clamped)
            let high = min(low + 1, grid - 1)
            return (low, high, clamped - Float(low))
        }
        let columns = (0..<width).map { coordinate($0, width) }
        for y in 0..<height {
            let (top, bottom, fy) = coordinate(y, height)
            for x in 0..<width {
                let (left, right, fx) = columns[x]
                let upper = attention[top * grid + left] * (1 - fx) + attention[top * grid + right] * fx
                let lower = attention[bottom * grid + left] * (1 - fx) + attention[bottom * grid + right] * fx
                let value = min(max((upper * (1 - fy) + lower * fy - floor) / peak, 0), 1)
                let color = Colormap.viridis(value)
                // Strong attention shows more colour; the image stays visible underneath.
                let alpha = 0.3 + 0.55 * value
                let offset = 3 * (y * width + x)
                for (channel, heat) in [color.red, color.green, color.blue].enumerated() {
                    let dimmed = Float(image.pixels[offset + channel]) * 0.5
                    output.pixels[offset + channel] = UInt8(min(255, max(0, (dimmed * (1 - alpha) + Float(heat) * alpha).rounded())))
                }
            }
        }
        return output
    }

    static func blit(_ source: RGBImage, into destination: inout RGBImage, x: Int, y: Int) {
        for row in 0..<source.height where y + row < destination.height {
            let count = min(source.width, destination.width - x) * 3
            guard count > 0 else { return }
            let from = row * source.width * 3
            let to = 3 * ((y + row) * destination.width + x)
            destination.pixels.replaceSubrange(to..<to + count, with: source.pixels[from..<from + count])
        }
    }
}

/// Perceptual colormaps for heat-maps.
public enum Colormap {
    /// matplotlib's viridis sampled at nine evenly spaced points, interpolated linearly
    /// between them: perceptually uniform and readable in grayscale and by most colour-blind viewers.
    static let viridisAnchors: [(Float, Float, Float)] = [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ]

    /// The colour of `value` in [0, 1] (clamped).
    public static func viridis(_ value: Float) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let clamped = value.isFinite ? min(max(value, 0), 1) : 0
        let position = clamped * Float(viridisAnchors.count - 1)
        let low = min(Int(position), viridisAnchors.count - 2)
        let fraction = position - Float(low)
        let a = viridisAnchors[low], b = viridisAnchors[low + 1]
        func mix(_ x: Float, _ y: Float) -> UInt8 { UInt8((x + (y - x) * fraction).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}
