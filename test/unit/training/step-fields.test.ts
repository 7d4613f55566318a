/** Every layer that carries a step's numbers carries exactly the fields of STEP_FIELDS (src/training/progress.ts). */
import 'reflect-metadata';
import { GraphQLObjectType } from 'graphql';
import { getMetadataArgsStorage } from 'typeorm';
import { buildApiSchema } from '../../../src/api/schema';
import { StepMetricEntity } from '../../../src/db/entities';
import { STEP_FIELD_NAMES, stepColumn } from '../../../src/training/progress';

test('the stored columns are the step fields plus the job, extra and the time', () => {
  const columns = getMetadataArgsStorage()
    .columns.filter((c) => c.target === StepMetricEntity)
    .map((c) => [c.propertyName, c.options.name ?? c.propertyName]);
  expect(Object.fromEntries(columns)).toEqual({
    ...Object.fromEntries(STEP_FIELD_NAMES.map((f) => [f, stepColumn(f)])),
    jobId: 'job_id',
    extra: 'extra',
    recordedAt: 'recorded_at',
  });
});

test("the API's StepMetric and progress event show every step field", async () => {
  const schema = await buildApiSchema();
  const fields = (type: string) => Object.keys((schema.getType(type) as GraphQLObjectType).getFields());
  expect(fields('StepMetric').sort()).toEqual([...STEP_FIELD_NAMES, 'extra', 'recordedAt'].sort());
  expect(fields('TrainingJobProgressEvent')).toEqual(expect.arrayContaining([...STEP_FIELD_NAMES]));
});
