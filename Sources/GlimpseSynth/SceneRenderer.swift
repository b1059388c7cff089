import Foundation
import GlimpseImage

/// Rasterises a scene: the background, then each object with antialiased edges
/// (coverage from a 4 x 4 grid of samples per pixel on the shape's boundary).
public enum SceneRenderer {
    public static func render(_ scene: Scene) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: scene.width * scene.height * 3)
        pixels.withUnsafeMutableBufferPointer { buffer in
            paintBackground(scene.background, width: scene.width, height: scene.height, into: buffer)
            for object in scene.objects {
                paint(object, width: scene.width, height: scene.height, into: buffer)
            }
        }
        return RGBImage(width: scene.width, height: scene.height, pixels: pixels)
    }

    static func clampByte(_ value: Int) -> UInt8 { UInt8(max(0, min(255, value))) }

    static func paintBackground(_ background: Background, width: Int, height: Int,
                                into pixels: UnsafeMutableBufferPointer<UInt8>) {
        var noiseState: UInt64 = 0
        if case .noise(_, _, let seed) = background { noiseState = seed }
        for y in 0..<height {
            for x in 0..<width {
                let color: RGB
                switch background {
                case .solid(let fill):
                    color = fill
                case .gradient(let from, let to, let vertical):
                    let t = vertical ? Double(y) / Double(max(1, height - 1)) : Double(x) / Double(max(1, width - 1))
                    color = RGB(red: from.red + Int(Double(to.red - from.red) * t),
                                green: from.green + Int(Double(to.green - from.green) * t),
                                blue: from.blue + Int(Double(to.blue - from.blue) * t))
                case .stripes(let first, let second, let period, let diagonal):
                    let coordinate = diagonal ? x + y : x
                    color = (coordinate / max(1, period / 2)) % 2 == 0 ? first : second
                case .checker(let first, let second, let cell):
                    color = ((x / cell) + (y / cell)) % 2 == 0 ? first : second
                case .noise(let base, let amplitude, _):
                    noiseState = noiseState &* 6364136223846793005 &+ 1442695040888963407
                    let offset = Int((noiseState >> 33) % UInt64(2 * amplitude + 1)) - amplitude
                    color = RGB(red: base.red + offset, green: base.green + offset, blue: base.blue + offset)
                }
                let index = 3 * (y * width + x)
                pixels[index] = clampByte(color.red)
                pixels[index + 1] = clampByte(color.green)
                pixels[index + 2] = clampByte(color.blue)
            }
        }
    }

    /// Whether (x, y), relative to the object's centre and unrotated, is inside it.
    static func contains(_ kind: ShapeKind, x: Double, y: Double, radius r: Double) -> Bool {
        switch kind {
        case .circle:
            return x * x + y * y <= r * r
        case .square:
            let half = r * 0.78
            return abs(x) <= half && abs(y) <= half
        case .diamond:
            // Taller than wide, so it never reads as a turned square.
            return abs(x) / (r * 0.68) + abs(y) / r <= 1
        case .triangle:
            // Equilateral, pointing up, vertices on the circumcircle.
            let top = -r, base = r * 0.5, halfBase = r * 0.866
            guard y >= top && y <= base else { return false }
            let widthAtY = halfBase * (y - top) / (base - top)
            return abs(x) <= widthAtY
        case .star:
            return insidePolygon(x: x, y: y, vertices: starVertices(radius: r))
        }
    }

    static func starVertices(radius: Double) -> [(Double, Double)] {
        (0..<10).map { index in
            let angle = -Double.pi / 2 + Double(index) * Double.pi / 5
            let length = index % 2 == 0 ? radius : radius * 0.45
            return (length * cos(angle), length * sin(angle))
        }
    }

    static func insidePolygon(x: Double, y: Double, vertices: [(Double, Double)]) -> Bool {
        var inside = false
        var previous = vertices[vertices.count - 1]
        for current in vertices {
            if (current.1 > y) != (previous.1 > y) {
                let crossing = previous.0 + (y - previous.1) * (current.0 - previous.0) / (current.1 - previous.1)
                if x < crossing { inside.toggle() }
            }
            previous = current
        }
        return inside
    }

    static func paint(_ object: SceneObject, width: Int, height: Int, into pixels: UnsafeMutableBufferPointer<UInt8>) {
        let color = (Int(object.color.red) + object.tint.0, Int(object.color.green) + object.tint.1,
                     Int(object.color.blue) + object.tint.2)
        let reach = object.radius * 1.05 + 1
        let minX = max(0, Int(object.centerX - reach)), maxX = min(width - 1, Int(object.centerX + reach))
        let minY = max(0, Int(object.centerY - reach)), maxY = min(height - 1, Int(object.centerY + reach))
        guard minX <= maxX, minY <= maxY else { return }
        let cosine = cos(-object.rotation), sine = sin(-object.rotation)
        let samples = 4
        for y in minY...maxY {
            for x in minX...maxX {
                var covered = 0
                for sampleY in 0..<samples {
                    for sampleX in 0..<samples {
                        let px = Double(x) + (Double(sampleX) + 0.5) / Double(samples) - object.centerX
                        let py = Double(y) + (Double(sampleY) + 0.5) / Double(samples) - object.centerY
                        let rx = px * cosine - py * sine, ry = px * sine + py * cosine
                        if contains(object.kind, x: rx, y: ry, radius: object.radius) { covered += 1 }
                    }
                }
                guard covered > 0 else { continue }
                let alpha = Double(covered) / Double(samples * samples)
                let index = 3 * (y * width + x)
                pixels[index] = clampByte(Int((Double(color.0) * alpha + Double(pixels[index]) * (1 - alpha)).rounded()))
                pixels[index + 1] = clampByte(Int((Double(color.1) * alpha + Double(pixels[index + 1]) * (1 - alpha)).rounded()))
                pixels[index + 2] = clampByte(Int((Double(color.2) * alpha + Double(pixels[index + 2]) * (1 - alpha)).rounded()))
            }
        }
    }
}
