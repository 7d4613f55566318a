/**
 * The demo model's pre-training corpus, generated here (deterministic, no download): short English facts
 * (capitals, animal sounds, colours, opposites) and sums of small numbers, each in a few phrasings, some as
 * "Q: ... A: ..." pairs. About 270 KB for the default 9,600 texts.
 */

const CAPITALS: readonly [string, string][] = [
  ['France', 'Paris'],
  ['Spain', 'Madrid'],
  ['Italy', 'Rome'],
  ['Germany', 'Berlin'],
  ['Japan', 'Tokyo'],
  ['China', 'Beijing'],
  ['Egypt', 'Cairo'],
  ['Peru', 'Lima'],
  ['Kenya', 'Nairobi'],
  ['Chile', 'Santiago'],
  ['Cuba', 'Havana'],
  ['Greece', 'Athens'],
  ['Norway', 'Oslo'],
  ['Poland', 'Warsaw'],
  ['Russia', 'Moscow'],
  ['India', 'New Delhi'],
  ['Canada', 'Ottawa'],
  ['Mexico', 'Mexico City'],
  ['Brazil', 'Brasilia'],
  ['Austria', 'Vienna'],
  ['Portugal', 'Lisbon'],
  ['Sweden', 'Stockholm'],
  ['Finland', 'Helsinki'],
  ['Ireland', 'Dublin'],
  ['Turkey', 'Ankara'],
  ['Iran', 'Tehran'],
  ['Iraq', 'Baghdad'],
  ['Thailand', 'Bangkok'],
  ['Vietnam', 'Hanoi'],
  ['Korea', 'Seoul'],
  ['Argentina', 'Buenos Aires'],
  ['Colombia', 'Bogota'],
  ['Nigeria', 'Abuja'],
  ['Ghana', 'Accra'],
  ['Morocco', 'Rabat'],
  ['Denmark', 'Copenhagen'],
  ['Hungary', 'Budapest'],
  ['Belgium', 'Brussels'],
  ['Australia', 'Canberra'],
  ['England', 'London'],
];
const NUMBERS = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
];
const SOUNDS: readonly [string, string][] = [
  ['cat', 'meow'],
  ['dog', 'woof'],
  ['cow', 'moo'],
  ['duck', 'quack'],
  ['sheep', 'baa'],
  ['lion', 'roar'],
  ['owl', 'hoot'],
  ['pig', 'oink'],
  ['horse', 'neigh'],
  ['frog', 'croak'],
];
const COLOURS: readonly [string, string][] = [
  ['sky', 'blue'],
  ['grass', 'green'],
  ['snow', 'white'],
  ['coal', 'black'],
  ['blood', 'red'],
  ['banana', 'yellow'],
  ['orange', 'orange'],
  ['sea', 'blue'],
  ['night', 'dark'],
  ['sun', 'bright'],
];
const OPPOSITES: readonly [string, string][] = [
  ['hot', 'cold'],
  ['big', 'small'],
  ['up', 'down'],
  ['fast', 'slow'],
  ['old', 'new'],
  ['day', 'night'],
  ['left', 'right'],
  ['open', 'closed'],
  ['full', 'empty'],
  ['happy', 'sad'],
  ['early', 'late'],
  ['high', 'low'],
];

/** mulberry32: the same texts for the same seed on every machine. */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function demoCorpus(count = 9_600, seed = 1): string[] {
  const next = uniform(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const digit = () => Math.floor(next() * 10);
  const kinds: (() => string)[] = [
    () => {
      const [country, city] = pick(CAPITALS);
      return pick([
        `The capital of ${country} is ${city}.`,
        `${city} is the capital of ${country}.`,
        `Q: What is the capital of ${country}?\nA: ${city}`,
      ]);
    },
    () => {
      const [a, b] = [digit(), digit()];
      return pick([
        `${NUMBERS[a]} plus ${NUMBERS[b]} is ${NUMBERS[a + b]}.`,
        `${a} + ${b} = ${a + b}`,
        `${a}+${b}=${a + b}`,
        `Q: What is ${a} plus ${b}?\nA: ${a + b}`,
      ]);
    },
    () => {
      const [animal, sound] = pick(SOUNDS);
      return pick([
        `The ${animal} says ${sound}.`,
        `A ${animal} goes ${sound}.`,
        `Q: What does the ${animal} say?\nA: ${sound}`,
      ]);
    },
    () => {
      const [thing, colour] = pick(COLOURS);
      return pick([`The ${thing} is ${colour}.`, `Q: What color is the ${thing}?\nA: ${colour}`]);
    },
    () => {
      const [word, opposite] = pick(OPPOSITES);
      return pick([
        `The opposite of ${word} is ${opposite}.`,
        `${opposite} is the opposite of ${word}.`,
        `Q: What is the opposite of ${word}?\nA: ${opposite}`,
      ]);
    },
  ];
  return Array.from({ length: count }, () => pick(kinds)());
}
