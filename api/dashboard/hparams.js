// hparams — the methods the create form offers and the hyperparameter
// fields of each: name, group, kind, the default shown as a placeholder,
// the methods that take it, a line of help. It mirrors the daemon's field
// table (lib/train/method.c; README's configuration reference); a field
// added there is one line here. Nothing here is sent unless the user
// fills it in, so a default that drifted would only mislead the
// placeholder, never the job.
import { BUDGET_METHODS } from './util.js';

export const METHODS = [
  ['adalora', 'AdaLoRA: adaptive rank budget'],
  ['lora', 'LoRA: fixed rank'],
  ['lora_prune', 'LoRA pruned by importance (the paper\'s ablation)'],
  ['full', 'Full fine-tuning'],
  ['bitfit', 'BitFit: biases only'],
  ['adapter', 'Adapter: Houlsby bottlenecks'],
];
const ALL = METHODS.map((m) => m[0]);
const ADAPTERS = ['adalora', 'lora', 'lora_prune'];
const BUDGET = [...BUDGET_METHODS];
export const MODULES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

// name, group, kind, placeholder (the default), methods, help.
export const FIELDS = [
  { name: 'max_steps', group: 'Training', kind: 'int', dflt: 'from n_epochs', methods: ALL,
    help: 'exact number of optimizer steps (overrides n_epochs)' },
  { name: 'n_epochs', group: 'Training', kind: 'epochs', dflt: 'auto', methods: ALL,
    help: '"auto": at least 3 epochs, more to reach 100 steps, at most 25' },
  { name: 'batch_size', group: 'Training', kind: 'int', dflt: '8', methods: ALL },
  { name: 'micro_batch_size', group: 'Training', kind: 'int', dflt: '= batch_size', methods: ALL,
    help: 'sequences per forward/backward pass (gradient accumulation)' },
  { name: 'learning_rate', group: 'Training', kind: 'float',
    dflt: (m) => (m === 'full' ? '0.0001' : '0.001'), methods: ALL },
  { name: 'lr_scheduler', group: 'Training', kind: 'select', options: ['linear', 'cosine', 'constant'],
    dflt: 'linear', methods: ALL },
  { name: 'warmup_steps', group: 'Training', kind: 'int', dflt: '0', methods: ALL },
  { name: 'weight_decay', group: 'Training', kind: 'float', dflt: '0', methods: ALL },
  { name: 'max_grad_norm', group: 'Training', kind: 'float', dflt: '1', methods: ALL,
    help: '0 disables clipping' },
  { name: 'seq_len', group: 'Training', kind: 'int', dflt: '256', methods: ALL,
    help: 'tokens per window, at most the model\'s context' },
  { name: 'valid_fraction', group: 'Training', kind: 'float', dflt: '0.05 if ≥ 20 windows',
    methods: ALL, help: 'tail of the training data held out when there is no validation file' },
  { name: 'eval_every', group: 'Training', kind: 'int', dflt: '0', methods: ALL,
    help: 'steps between validation passes (0: before and after training)' },
  { name: 'log_every', group: 'Training', kind: 'int', dflt: '10', methods: ALL,
    help: 'steps between metrics events (the charts\' resolution)' },
  { name: 'checkpoint_every', group: 'Training', kind: 'int', dflt: '100', methods: ALL },
  { name: 'gradient_checkpointing', group: 'Training', kind: 'bool', dflt: false, methods: ALL,
    help: 'recompute each block in backward: less memory, about a third more compute' },
  { name: 'r', group: 'Adapter', kind: 'int', dflt: '8', methods: ['lora'], help: 'LoRA rank' },
  { name: 'lora_alpha', group: 'Adapter', kind: 'float', dflt: '8', methods: ADAPTERS },
  { name: 'lora_dropout', group: 'Adapter', kind: 'float', dflt: '0', methods: ADAPTERS },
  { name: 'target_modules', group: 'Adapter', kind: 'modules', methods: ADAPTERS },
  { name: 'init_r', group: 'Rank budget', kind: 'int', dflt: '12', methods: BUDGET,
    help: 'initial rank of every matrix' },
  { name: 'target_r', group: 'Rank budget', kind: 'int', dflt: '8', methods: BUDGET,
    help: 'average final rank: b(T) = matrices × target_r' },
  { name: 'tinit', group: 'Rank budget', kind: 'int', dflt: '0', methods: BUDGET,
    help: 'steps before the first mask' },
  { name: 'tfinal', group: 'Rank budget', kind: 'int', dflt: '0', methods: BUDGET,
    help: 'steps trained with the final mask' },
  { name: 'deltaT', group: 'Rank budget', kind: 'int', dflt: '10', methods: BUDGET,
    help: 'steps between masks' },
  { name: 'beta1', group: 'Rank budget', kind: 'float', dflt: '0.85', methods: BUDGET },
  { name: 'beta2', group: 'Rank budget', kind: 'float', dflt: '0.85', methods: BUDGET },
  { name: 'orth_reg_weight', group: 'Rank budget', kind: 'float', dflt: '0.5', methods: ['adalora'] },
  { name: 'importance', group: 'Rank budget', kind: 'select', dflt: 'sensitivity_uncertainty',
    options: ['sensitivity_uncertainty', 'sensitivity', 'magnitude'], methods: BUDGET },
  { name: 'adapter_size', group: 'Adapter', kind: 'int', dflt: '64', methods: ['adapter'],
    help: 'bottleneck width of the Houlsby adapters' },
  { name: 'compact_on_freeze', group: 'Rank budget', kind: 'bool', dflt: true, methods: ['adalora'],
    help: 'shrink adapters to their kept rank at the freeze' },
  { name: 'max_source_length', group: 'Seq2seq (BART)', kind: 'int', dflt: 'auto', methods: ADAPTERS,
    help: 'tokens of a source, framing included (auto: the context, at most 1024)' },
  { name: 'max_target_length', group: 'Seq2seq (BART)', kind: 'int', dflt: 'auto', methods: ADAPTERS,
    help: 'tokens of a target (auto: 128, at most the context)' },
  { name: 'label_smoothing', group: 'Seq2seq (BART)', kind: 'float', dflt: '0', methods: ADAPTERS,
    help: 'epsilon spread over the vocabulary (transformers\' label_smoothing_factor)' },
  { name: 'valid_generate_examples', group: 'Seq2seq (BART)', kind: 'int', dflt: '64', methods: ADAPTERS,
    help: 'validation sources decoded and scored with ROUGE at each validation (0: none; the API takes "all")' },
  { name: 'generation_num_beams', group: 'Seq2seq (BART)', kind: 'int', dflt: 'auto', methods: ADAPTERS,
    help: 'beams of validation\'s decoding, 1 to 256 (auto: the model\'s num_beams)' },
  { name: 'generation_max_length', group: 'Seq2seq (BART)', kind: 'int', dflt: 'auto', methods: ADAPTERS,
    help: 'validation\'s max_length, the decoder start token included (auto: max_target_length)' },
];
// What POST /v1/adalora/schedule takes from the hyperparameters.
export const SCHEDULE_FIELDS = ['init_r', 'target_r', 'tinit', 'tfinal', 'deltaT'];
