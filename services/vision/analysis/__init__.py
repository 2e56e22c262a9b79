"""Face analysis heads: 68 landmarks, age, gender, expression, glasses, shape, beauty, quality,
pose and liveness. `analyser.Analyser` runs the ones a request asks for, batched across faces."""
