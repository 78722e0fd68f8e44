"""How often each word the negative streams can speak occurs in English, as wordfreq's Zipf
frequency (log10 of occurrences per billion words): 7.7 for "the", 3.2 for "sever".

`vocab.sentences(..., natural=True)` draws words in proportion to 10 ** zipf, so a stream's
near-misses of the commands ("sever", "gown", "lift") come about as often as in real talk,
not as often as "the". Made for every word of the factory's lists (vocab.COMMON_WORDS,
SPEECH_COMMANDS_AUX, FILLER_WORDS, NEAR_MISSES, frequent_words.FREQUENT_WORDS) with wordfreq
3.1.1: `{w: round(wordfreq.zipf_frequency(w, "en"), 2)}`; a word missing here counts as 1.0.
wordfreq is not needed at run or train time: this table is all the factory takes from it.

Data source and licence: wordfreq by Robyn Speer (https://github.com/rspeer/wordfreq), whose word
frequency data is distributed under the Creative Commons Attribution-ShareAlike 4.0 licence
(https://creativecommons.org/licenses/by-sa/4.0/); this table is derived from it and is shared
under the same licence. wordfreq's data draws on Google Books Ngrams, Wikipedia, SUBTLEX, the
Leeds Internet Corpus, ParaCrawl and other sources credited in its README.
"""

# fmt: off
WORD_ZIPF: dict[str, float] = {
    "a": 7.36, "about": 6.4, "actually": 5.49, "after": 6.11, "again": 5.7, "against": 5.68,
    "ago": 5.42, "all": 6.52, "already": 5.55, "also": 6.19, "always": 5.76, "am": 5.78,
    "american": 5.49, "an": 6.53, "and": 7.41, "another": 5.74, "answer": 5.17, "any": 6.07,
    "anything": 5.55, "app": 4.86, "apple": 4.76, "are": 6.74, "around": 5.77, "arrow": 4.13,
    "as": 6.77, "at": 6.7, "ate": 4.34, "autumn": 4.26, "away": 5.62, "back": 6.04,
    "backward": 3.71, "bad": 5.53, "banana": 4.0, "based": 5.51, "be": 6.79, "because": 6.03,
    "bed": 5.07, "been": 6.27, "before": 5.93, "being": 5.95, "believe": 5.51, "best": 5.84,
    "better": 5.76, "between": 5.77, "big": 5.67, "bird": 4.63, "black": 5.46, "blanket": 4.07,
    "blue": 5.13, "both": 5.79, "bottle": 4.57, "bread": 4.5, "breakfast": 4.61, "bright": 4.61,
    "brown": 5.01, "business": 5.56, "but": 6.63, "butter": 4.4, "button": 4.56, "by": 6.66,
    "call": 5.51, "called": 5.59, "came": 5.5, "can": 6.46, "care": 5.56, "carpet": 4.18,
    "case": 5.55, "cat": 4.78, "chair": 4.69, "change": 5.54, "cheese": 4.57, "chess": 3.94,
    "chicken": 4.63, "city": 5.61, "close": 5.36, "clown": 3.93, "coffee": 4.86, "come": 5.78,
    "company": 5.6, "computer": 4.97, "cough": 3.95, "could": 6.06, "country": 5.48, "cup": 5.11,
    "dawn": 4.27, "day": 5.95, "days": 5.61, "desert": 4.4, "did": 5.96, "different": 5.59,
    "dinner": 4.78, "dive": 4.12, "do": 6.35, "doctor": 4.9, "does": 5.74, "dog": 5.1,
    "doing": 5.6, "done": 5.58, "door": 5.08, "during": 5.72, "each": 5.69, "early": 5.43,
    "eighteen": 3.81, "eighty": 3.75, "eleven": 4.12, "end": 5.68, "enough": 5.54, "even": 5.99,
    "evening": 4.86, "ever": 5.66, "every": 5.79, "everything": 5.54, "family": 5.66, "far": 5.5,
    "fast": 5.13, "feel": 5.67, "few": 5.6, "fife": 3.38, "fight": 5.23, "find": 5.76,
    "fine": 5.23, "fire": 5.3, "first": 6.11, "fix": 4.75, "floor": 4.94, "follow": 5.14,
    "for": 7.01, "forest": 4.7, "fork": 4.03, "forward": 5.12, "found": 5.68, "fourth": 4.83,
    "free": 5.63, "friday": 4.96, "from": 6.63, "full": 5.54, "fun": 5.3, "game": 5.72,
    "garden": 4.77, "gate": 4.47, "get": 6.28, "getting": 5.57, "give": 5.71, "glass": 4.85,
    "goat": 4.02, "god": 5.57, "going": 5.94, "gold": 5.17, "gone": 5.17, "good": 6.12,
    "got": 5.91, "government": 5.57, "gown": 3.75, "great": 5.88, "green": 5.13, "group": 5.57,
    "grow": 4.9, "guess": 5.17, "had": 6.33, "half": 5.41, "happy": 5.35, "hard": 5.53,
    "has": 6.37, "have": 6.71, "having": 5.59, "he": 6.69, "head": 5.51, "heaven": 4.58,
    "hello": 4.72, "help": 5.75, "her": 6.3, "here": 5.97, "hero": 4.68, "high": 5.75, "him": 6.11,
    "his": 6.51, "hive": 3.5, "home": 5.81, "hop": 4.4, "house": 5.71, "how": 6.24,
    "however": 5.58, "if": 6.47, "in": 7.27, "including": 5.52, "into": 6.11, "is": 7.07,
    "island": 5.01, "it": 6.95, "its": 6.14, "job": 5.5, "just": 6.43, "keep": 5.66, "kicks": 4.07,
    "kitchen": 4.65, "know": 6.1, "lamp": 4.05, "large": 5.39, "last": 5.86, "late": 5.34,
    "later": 5.49, "laughed": 4.24, "learn": 5.17, "less": 5.49, "lest": 3.54, "let": 5.6,
    "life": 5.89, "lift": 4.5, "light": 5.33, "like": 6.41, "line": 5.49, "little": 5.75,
    "live": 5.54, "loft": 3.51, "long": 5.81, "look": 5.81, "looking": 5.57, "lot": 5.61,
    "loud": 4.53, "love": 5.82, "lunch": 4.66, "made": 5.92, "make": 6.08, "making": 5.54,
    "man": 5.82, "many": 5.91, "market": 5.29, "marvin": 3.66, "may": 5.98, "maybe": 5.45,
    "me": 6.48, "mean": 5.53, "men": 5.51, "mess": 4.57, "might": 5.66, "mine": 5.04, "mix": 4.71,
    "monday": 4.8, "money": 5.64, "more": 6.36, "morning": 5.33, "most": 6.0, "mountain": 4.73,
    "mr": 5.69, "much": 6.0, "music": 5.52, "must": 5.68, "my": 6.57, "name": 5.61,
    "national": 5.51, "need": 5.97, "never": 5.91, "new": 6.25, "next": 5.7, "night": 5.61,
    "nineteen": 3.59, "ninety": 3.71, "none": 4.93, "nose": 4.51, "not": 6.69, "note": 5.04,
    "nothing": 5.55, "now": 6.18, "number": 5.62, "ocean": 4.7, "of": 7.4, "often": 5.41,
    "old": 5.75, "once": 5.53, "only": 6.12, "open": 5.48, "or": 6.54, "orange": 4.62,
    "order": 5.49, "other": 6.16, "our": 6.14, "out": 6.38, "over": 6.08, "own": 5.74,
    "paper": 5.07, "part": 5.78, "party": 5.49, "pause": 4.0, "pencil": 3.95, "people": 6.25,
    "person": 5.55, "phone": 5.3, "pillow": 3.96, "place": 5.71, "play": 5.61, "please": 5.66,
    "point": 5.54, "power": 5.52, "problem": 5.4, "public": 5.57, "pup": 3.64, "purple": 4.32,
    "put": 5.66, "question": 5.35, "quiet": 4.65, "read": 5.54, "real": 5.6, "really": 5.97,
    "red": 5.32, "rice": 4.55, "ride": 4.85, "river": 5.03, "run": 5.49, "said": 6.01, "same": 5.8,
    "say": 5.89, "says": 5.49, "school": 5.71, "season": 5.48, "second": 5.63, "see": 6.1,
    "seen": 5.52, "service": 5.49, "set": 5.59, "sever": 3.15, "several": 5.39, "severe": 4.56,
    "she": 6.26, "sheila": 3.56, "shit": 5.48, "shop": 4.88, "should": 5.99, "show": 5.68,
    "side": 5.5, "sierra": 4.06, "silver": 4.81, "since": 5.75, "sits": 4.18, "slow": 4.85,
    "small": 5.51, "snow": 4.66, "so": 6.52, "sofa": 3.81, "some": 6.2, "someone": 5.63,
    "something": 5.81, "sorry": 5.18, "spoon": 3.88, "spring": 4.92, "start": 5.56, "state": 5.78,
    "states": 5.52, "step": 5.13, "sticks": 4.14, "still": 5.92, "stock": 4.93, "stomp": 3.25,
    "street": 5.28, "such": 5.84, "summer": 5.23, "sun": 4.97, "support": 5.53, "sure": 5.67,
    "system": 5.56, "table": 5.05, "take": 5.92, "teacher": 4.88, "team": 5.67, "tell": 5.53,
    "than": 6.13, "thank": 5.48, "thanks": 5.43, "that": 7.01, "the": 7.73, "theft": 4.13,
    "their": 6.33, "them": 6.19, "then": 6.07, "there": 6.31, "these": 6.04, "they": 6.5,
    "thing": 5.72, "things": 5.74, "think": 6.08, "this": 6.82, "those": 5.9, "though": 5.5,
    "thought": 5.59, "thread": 4.44, "through": 5.87, "throw": 4.83, "time": 6.29, "times": 5.56,
    "to": 7.43, "today": 5.55, "toe": 4.07, "told": 5.54, "tomb": 3.89, "tomorrow": 5.02,
    "too": 5.95, "took": 5.51, "tooth": 4.08, "top": 5.57, "town": 5.24, "tree": 4.85,
    "trees": 4.69, "true": 5.4, "try": 5.5, "tune": 4.27, "under": 5.73, "until": 5.61,
    "upon": 5.12, "upper": 4.72, "us": 6.04, "use": 5.81, "used": 5.8, "very": 6.0,
    "village": 4.82, "visual": 4.5, "volume": 4.76, "wait": 5.35, "want": 6.04, "was": 6.82,
    "water": 5.52, "way": 6.01, "we": 6.54, "weather": 4.87, "week": 5.56, "well": 6.03,
    "went": 5.5, "were": 6.34, "what": 6.38, "when": 6.37, "where": 6.0, "which": 6.3,
    "while": 5.86, "white": 5.51, "who": 6.34, "why": 5.93, "will": 6.45, "window": 4.8,
    "wine": 4.74, "winter": 4.89, "with": 6.85, "without": 5.69, "women": 5.57, "won": 5.2,
    "work": 5.96, "world": 5.89, "would": 6.27, "wow": 4.96, "write": 5.03, "xerox": 3.01,
    "yeah": 5.37, "year": 5.96, "years": 5.96, "yellow": 4.69, "yesterday": 4.91, "yet": 5.54,
    "you": 6.98, "your": 6.53, "zebra": 3.4,
}
# fmt: on
