import Glimpse

// Caption every image named on the command line (files or folders) with the shipped model.
do {
    let captioner = try Captioner.shipped()
    for item in captioner.caption(paths: Array(CommandLine.arguments.dropFirst())) {
        print(item.path + ": " + (item.result.map { captioner.text($0.best) } ?? "error: " + (item.error ?? "")))
    }
} catch {
    print("CaptionApp: \(error)")
}
