// The detectors' public surface.

export { DetectorEngine, RULE_ERROR_LIMIT } from './engine.ts';
export type { RuleCounters, ReloadResult, RuleFailure, EngineOptions } from './engine.ts';
export { allDetectors } from './registry.ts';
export { sensitivePathPatterns } from './paths.ts';
export { validateRulesConfig, compileSettings, RulesConfigError, DEFAULT_SETTINGS } from './config.ts';
export type { RulesConfig, RuleConfig, RuleException, SettingsConfig, DetectorSettings } from './config.ts';
export { SyntheticEventType, DETECTOR_EVENT_TYPE_LIMIT, NO_FINDINGS } from './Detector.ts';
export type {
  AgentContext,
  ContainerCpuSampleEvent,
  TelemetryGapEvent,
  DroppedRecords,
  DetectionContext,
  Detector,
  DetectorEvent,
  DetectorEventType,
  Finding,
  MitreTechnique,
  PodAttributes,
  RuleMetadata,
} from './Detector.ts';
export { Attr, DETECTION_ATTRIBUTE_KEYS } from './attributeKeys.ts';
export type { AttributeKey } from './attributeKeys.ts';
export { renderDetectionDocs } from './docs.ts';
