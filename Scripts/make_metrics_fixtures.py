#!/usr/bin/env python3
"""Writes the caption-metric fixtures in Tests/GlimpseMetricsTests/Fixtures/.

Each fixture is a small caption set scored by the real COCO caption evaluation:
pycocoevalcap 1.2's PTBTokenizer (Stanford CoreNLP 3.4.1, needs `java`), Bleu(4), Rouge and
Cider. The JSON keeps the raw captions, the strings the real tokenizer produced, and the
expected corpus and per-image scores, so the Swift tests never need Python or Java.

    pip install pycocoevalcap==1.2      # and a JRE: apt-get install -y default-jre-headless
    python3 Scripts/make_metrics_fixtures.py

Deterministic: the realistic set is drawn with a fixed seed.
"""
import json
import os
import random
import subprocess
import sys
from importlib.metadata import version

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "GlimpseMetricsTests", "Fixtures")


def java_version():
    out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return out.splitlines()[0] if out else "unknown"


def evaluate(name, description, images):
    """images: list of (image_id, [reference captions], candidate caption)."""
    gts = {i: [{"caption": c} for c in refs] for i, refs, _ in images}
    res = {i: [{"caption": cand}] for i, _, cand in images}
    tokenizer = PTBTokenizer()
    gts_tok = tokenizer.tokenize(gts)
    res_tok = tokenizer.tokenize(res)
    assert set(gts_tok) == set(res_tok) == {i for i, _, _ in images}, "tokenizer lost a caption"

    bleu, bleu_per_image = Bleu(4).compute_score(gts_tok, res_tok, verbose=0)
    rouge, rouge_per_image = Rouge().compute_score(gts_tok, res_tok)
    cider, cider_per_image = Cider().compute_score(gts_tok, res_tok)
    order = list(gts_tok.keys())  # the scorers iterate gts.keys()

    per_image = []
    for index, image_id in enumerate(order):
        refs, cand = next((r, c) for i, r, c in images if i == image_id)
        per_image.append({
            "id": image_id,
            "references": refs,
            "candidate": cand,
            "tokenizedReferences": gts_tok[image_id],
            "tokenizedCandidate": res_tok[image_id][0],
            "bleu": [float(bleu_per_image[k][index]) for k in range(4)],
            "rougeL": float(rouge_per_image[index]),
            "ciderD": float(cider_per_image[index]),
        })
    fixture = {
        "name": name,
        "description": description,
        "producedBy": {
            "script": "Scripts/make_metrics_fixtures.py",
            "pycocoevalcap": version("pycocoevalcap"),
            "tokenizer": "Stanford CoreNLP 3.4.1 PTBTokenizer -preserveLines -lowerCase",
            "java": java_version(),
        },
        "corpus": {
            "bleu": [float(b) for b in bleu],
            "rougeL": float(rouge),
            "ciderD": float(cider),
        },
        "images": per_image,
    }
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{name}: {len(images)} images, BLEU-4 {bleu[3]:.6f}, ROUGE-L {rouge:.6f}, CIDEr {cider:.6f}")


def realistic(seed=20261122, count=30):
    """COCO-like captions: each image has a subject, an action and a place; references
    paraphrase them, and the candidate is sometimes right, sometimes partly wrong."""
    rng = random.Random(seed)
    subjects = [("a dog", "a brown dog", "a puppy", "the dog"), ("a man", "a young man", "a guy", "a person"),
                ("a woman", "a lady", "a young woman", "a girl"), ("two kids", "two children", "a couple of kids", "two young boys"),
                ("a cat", "a black cat", "a kitten", "the cat"), ("a train", "a passenger train", "an old train", "a red train"),
                ("a group of people", "several people", "a crowd", "many people"), ("a giraffe", "a tall giraffe", "two giraffes", "a giraffe")]
    actions = [("is sitting on", "sits on", "sitting on", "rests on"), ("is running across", "runs across", "running through", "is walking on"),
               ("is standing next to", "stands beside", "standing by", "is near"), ("is eating", "eats", "eating", "is chewing on"),
               ("is riding", "rides", "riding", "is on")]
    places = [("a wooden bench", "a bench", "the bench in a park", "a park bench"), ("a grassy field", "the grass", "a green field", "a field"),
              ("a city street", "the street", "a busy road", "a street"), ("a sandy beach", "the beach", "the shore", "a beach near the ocean"),
              ("a red surfboard", "a surf board", "a board", "the waves on a surfboard"), ("a slice of pizza", "some pizza", "a pizza", "a piece of pizza")]
    tails = ["", ".", " .", " in the sun.", ", looking at the camera.", " on a cloudy day", " next to a tree."]
    images = []
    for n in range(count):
        s, a, p = rng.choice(subjects), rng.choice(actions), rng.choice(places)
        refs = []
        for _ in range(rng.randint(1, 5)):
            caption = f"{rng.choice(s)} {rng.choice(a)} {rng.choice(p)}{rng.choice(tails)}"
            refs.append(caption[0].upper() + caption[1:] if rng.random() < 0.7 else caption)
        mode = rng.random()
        if mode < 0.4:
            cand = f"{rng.choice(s)} {rng.choice(a)} {rng.choice(p)}"
        elif mode < 0.7:
            cand = f"{rng.choice(rng.choice(subjects))} {rng.choice(a)} {rng.choice(rng.choice(places))}"
        elif mode < 0.85:
            cand = f"{rng.choice(s)} {rng.choice(a)} {rng.choice(p)} {rng.choice(a)} {rng.choice(p)}"
        else:
            cand = f"{rng.choice(s)}"
        images.append((str(100000 + n * 37), refs, cand))
    return images


SETS = [
    ("edge_lengths", "an empty candidate, a candidate longer than all references, an exact match, no overlap", [
        ("1", ["A dog runs on the beach.", "A brown dog running along the shore."], ""),
        ("2", ["A cat sleeps.", "A cat is sleeping on a couch."],
         "a small grey cat is sleeping peacefully on a large soft brown leather couch in a sunny living room next to a window"),
        ("3", ["a man riding a wave on a surfboard", "A surfer rides a big wave."], "a man riding a wave on a surfboard"),
        ("4", ["Two giraffes standing in a field.", "Giraffes in the grass."], "pizza on a plate"),
        ("5", ["A red bus on the street.", "A double decker bus driving down a road.", "A bus."], "a red bus driving down the street"),
    ]),
    ("single_reference", "exactly one reference per image", [
        ("a", ["A plate of food with broccoli and rice."], "a plate of rice and broccoli"),
        ("b", ["A kitchen with white cabinets and a stove."], "a white kitchen with a stove"),
        ("c", ["A man holding a tennis racket on a court."], "a tennis player on a court"),
        ("d", ["Two zebras grazing in tall grass."], "two zebras eating grass"),
        ("e", ["An airplane flying over the city."], "a plane in the sky"),
        ("f", ["A bowl of fruit on a table."], "a bowl of fruit on a wooden table"),
    ]),
    ("repeated_ngrams", "repeated words and n-grams exercise the clipped counts", [
        ("r1", ["the cat is on the mat", "there is a cat on the mat"], "the the the the the the the"),
        ("r2", ["a dog and a dog and a cat", "two dogs and a cat"], "a dog and a dog and a dog and a dog"),
        ("r3", ["a a a b", "a b a b"], "a a a a b b b b"),
        ("r4", ["people walking on a street with people", "a street full of people"], "people people people on a street street"),
    ]),
    ("punctuation_and_case", "case, sentence punctuation, brackets, straight quotes, dashes and ellipses", [
        ("p1", ["A DOG, a cat; and a BIRD!", "Dog? Cat. Bird..."], "a dog , a cat and a bird"),
        ("p2", ["A man (in a red shirt) is cooking.", "A chef [left] cooks {dinner}."], "A Man In A Red Shirt Cooking"),
        ("p3", ['A sign that says "STOP".', "A stop sign -- very red - on a pole."], '"stop" sign on a pole'),
        ("p4", ["Wait... a bus: red & white!", "A bus #42 at 50% speed; ok?!"], "a red and white bus ..."),
        ("p5", ["People at the U.S. Capitol. Mr. Smith waves.", "Tourists in Washington, D.C. on a sunny day."],
         "people at the u.s. capitol"),
    ]),
    ("contractions", "clitics and contractions that PTB splits", [
        ("c1", ["It's a dog's bed.", "The dog's bed isn't empty."], "it is a dog 's bed"),
        ("c2", ["They're eating pizza, aren't they?", "We've got pizza and they'll eat it."], "they're eating pizza"),
        ("c3", ["A cat that can't sleep.", "A cat which won't sleep and cannot rest."], "a cat that cannot sleep"),
        ("c4", ["I'm gonna ride the bike.", "He'd rather ride; you'd wanna too."], "i am going to ride the bike"),
        ("c5", ["The kids' toys and James' hat.", "Rock 'n' roll in the '90s, o'clock."], "the kid's toys"),
    ]),
    ("hyphens_and_numbers", "hyphenated words stay whole; numbers keep their , . : / and signs", [
        ("h1", ["A black-and-white photo of a well-known man.", "An old black and white photo."], "a black-and-white photo"),
        ("h2", ["3,000 people in 1.5 hours.", "About 3000 people, 12:30 p.m."], "3,000 people at 12:30"),
        ("h3", ["A 2-year-old with 5 1/2 cakes.", "A two year old child with ½ cake."], "a 2-year-old with 1/2 cake"),
        ("h4", ["A $5 bill and -5 degrees.", "A 10% off sign, 2nd floor, 1990s style."], "a 5 dollar bill"),
        ("h5", ["An x-ray of an e-mail.", "Self-driving cars on a two-lane road."], "a self-driving car on a road"),
    ]),
    ("non_ascii", "accents, CJK, emoji, curly quotes, Unicode dashes and ellipsis", [
        ("u1", ["A café in São Paulo.", "Crème brûlée at a café."], "a café in sao paulo"),
        ("u2", ["日本語のキャプション", "猫がいる"], "猫"),
        ("u3", ["A dog 🐶 on a beach 🏖️.", "A happy dog ❤️ on sand."], "a dog on a beach 🐶"),
        ("u4", ["“Smile!” says the sign.", "A sign reading ‘smile’ … nice — really."], "a sign that says “smile”"),
        ("u5", ["Ελληνικά γράμματα on a wall.", "Русский текст на стене."], "greek letters on a wall"),
        ("u6", ["A naïve über-cool façade.", "Zürich’s streets – busy."], "a busy street in zürich"),
    ]),
    ("single_image", "one image: log(1) makes every CIDEr-D weight 0", [
        ("only", ["A dog on a couch.", "A brown dog lying on a sofa."], "a dog lying on a couch"),
    ]),
    ("realistic", "thirty COCO-like images with one to five references (seeded)", realistic()),
]


TOKENIZER_CASES = [
    "A man riding a wave on top of a surfboard.",
    "It's a dog's life. They're here, we've been, I'm ok, you'll see, he'd go.",
    "don't won't can't shouldn't ain't Don't DON'T",
    "cannot gonna gotta wanna lemme gimme dunno 'tis 'twas",
    "a black-and-white photo of a well-known dog e-mail x-ray",
    "3,000 3.14 1,234.56 .5 12:30 -5 +5 1/2 5 1/2 ½",
    "U.S. Mr. Dr. St. etc. a.m. p.m. e.g. i.e. vs. Inc.",
    "A man at the U.S. The end.",
    "$5 £5 €5 ¥5 #1 @user 50% a&b AT&T",
    "a man (with a hat) [and] {braces} <tag> < >",
    "\"quoted\" 'single' “curly” ‘curly’ «guillemets»",
    "wait... wait.... wait . . . wait… wait -- ok - no — yes – maybe",
    "a*b a/b a\\b a+b a=b a~b a^b a|b",
    "naïve café résumé Zürich São Paulo Ελληνικά Русский 日本語の猫 한국어",
    "😀 🐶 dog emoji ❤️ ☺ ★",
    "It's the '90s and rock 'n' roll O'Neil o'clock y'all",
    "www.google.com http://example.com/a?b=c foo@bar.com",
    "a man's. the dogs'. the boss's. James' hat",
    "hello.world yes!no what?now",
    "?!? !!! ??? ... , ; :",
    "Two dogs playing in the snow!",
    "A kitchen with a stove, a sink and a refrigerator",
    "A giraffe standing next to a tree in a zoo .",
    "  leading and trailing spaces  ",
    "tabs\tbetween\twords",
    "A TRAIN ON THE TRACKS",
    "The man is 6'2\" tall.",
    "a 10-foot-tall statue, 2nd street, 1990s, 4x4 truck, 3D TV",
    "A Wi-Fi sign at McDonald's.",
    "The time is 10:30am.",
    "A dog - a cat - a bird",
    "Children's toys on the kids' floor.",
    "A no. 5 bus; No. 7 train",
    "She said \"hi\".",
    "It was 'great'.",
    "Two people (a man and a woman) sit.",
    "a plate w/ food & drinks",
    "a sign: 'no parking'",
    "rock'n'roll",
    "A man, wearing a hat, walks.",
    "A dog... running",
    "ok.",
    "A red-and-white stop sign.",
    "A CAT'S TOY",
    "Can't stop, won't stop.",
    "the 49ers' stadium",
    "An E. coli sample",
    "A 1.5-liter bottle",
    "Temperature is -5°C",
    "A $1.50 coffee",
    "co-op pre-war re-enter",
    "smiley :) and :( and :D",
    "a cat & a dog",
    "Mt. Fuji at St. Louis in Jan. 2020",
    "I.",
    "A man.",
    "a man .",
    "A.",
    "",
]


FUZZ_WORDS = [
    "a", "A", "the", "The", "dog", "DOG", "man", "it", "I", "they", "you",
    "dog's", "it's", "they're", "we've", "I'm", "you'll", "he'd", "can't", "won't", "don't", "isn't", "cannot", "gonna",
    "black-and-white", "e-mail", "2-year-old", "3,000", "1.5", "12:30", "-5", "+3", "1/2", "5 1/2", "½", "$5", "£10", "€3", "50%",
    "U.S.", "Mr.", "Dr.", "St.", "etc.", "e.g.", "a.m.", "No.", "no.", "vs.", "Inc.", "Jan.", "Fig.", "Ph.D.", "D.C.",
    "(", "(a", ")", "b)", "[x]", "{y}", "<b>", "\"", "'", "“", "”", "‘", "’", "«", "»", "„", "...", "…", "--", "—", "–", "-",
    ",", ".", ";", ":", "?", "!", "?!", "!!!", "café", "naïve", "Zürich", "日本", "猫", "한국", "ΟΔΟΣ", "Москва", "😀", "❤️", "★",
    "&", "AT&T", "*", "/", "w/", "a/b", "c++", "#1", "#tag", "@user", "o'clock", "O'Neil", "O’Neil", "'90s", "’90s", "'n'",
    "y'all", "'em", "'til", "don’t", "it’s", "’Smith", "James'", "dogs'", "hello.world", "www.example.com", "foo@bar.com",
    "photo.jpg", "10:30am", "1st", "4x4", "3D", "_", "=", "+", "~", "A.", "I.", "x.", "end.", "ok?", "wait...", "(555)",
    "555-1234", "12-05-2020", ".5", "°C", "mid-1990s", "co-op", "don'ts", "c'mon", "'tis", "'twas", "ya'll", "cont'd", "ain't",
]
FUZZ_CHARACTERS = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3 + list("0123456789") * 2
                   + list("      ") * 4 + list(".,;:!?'\"-()[]{}/\\*&%$#@+=_<>~^|`")
                   + list("éüñçÅßøΣσЖж日本猫한“”‘’«»…—–½°€£¢¥❤★\u00a0\u00ad"))


def fuzz_captions(seed=7, count=300):
    """Word salad from FUZZ_WORDS and character salad from FUZZ_CHARACTERS: far from real
    captions, but they reach the corners of the lexer that captions reach only rarely."""
    rng = random.Random(seed)
    captions = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 12)):
            parts.append(rng.choice(FUZZ_WORDS))
            parts.append(rng.choice([" ", " ", " ", "  ", "", "\t"]))
        captions.append("".join(parts).strip(" "))
    for _ in range(count):
        captions.append("".join(rng.choice(FUZZ_CHARACTERS) for _ in range(rng.randint(0, 25))))
    return captions


def tokenizer_batch(name, description, captions):
    """Captions as one tokenizer batch (one image), through the same pycocoevalcap call."""
    tokenized = PTBTokenizer().tokenize({"batch": [{"caption": c} for c in captions]})["batch"]
    assert len(tokenized) == len(captions)
    fixture = {
        "name": name,
        "description": description,
        "producedBy": {"script": "Scripts/make_metrics_fixtures.py", "pycocoevalcap": version("pycocoevalcap"),
                       "tokenizer": "Stanford CoreNLP 3.4.1 PTBTokenizer -preserveLines -lowerCase",
                       "java": java_version()},
        "cases": [{"caption": c, "tokenized": t} for c, t in zip(captions, tokenized)],
    }
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{name}: {len(captions)} captions")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, description, images in SETS:
        evaluate(name, description, images)
    tokenizer_batch("tokenizer_cases", "single captions and the strings pycocoevalcap's PTBTokenizer step made of them",
                    TOKENIZER_CASES)
    tokenizer_batch("tokenizer_fuzz", "seeded word and character salad through the real tokenizer", fuzz_captions())


if __name__ == "__main__":
    sys.exit(main())
