/** The hyperparameter specification, as the API answers it: the only source of hyperparameter names, limits and defaults. */
import { request } from './api';
import type { HyperparameterSpecificationQuery, HyperparameterSpecificationQueryVariables } from './gql';

export const HYPERPARAMETER_SPECIFICATION = /* GraphQL */ `
  query HyperparameterSpecification(
    $method: TrainingMethod
    $parameterScale: ParameterScale
    $baseModelId: ID
  ) {
    hyperparameterSpecification(method: $method, parameterScale: $parameterScale, baseModelId: $baseModelId) {
      fields {
        name
        type
        nullable
        minimum
        minimumExclusive
        maximum
        allowedValues
        maxLength
        maxItems
        itemPattern
        default
        defaultDescription
        applies
        description
      }
      rules {
        fields
        description
      }
    }
  }
`;

export type HyperparameterField =
  HyperparameterSpecificationQuery['hyperparameterSpecification']['fields'][number];

export function specification(variables: HyperparameterSpecificationQueryVariables = {}) {
  return request<HyperparameterSpecificationQuery, HyperparameterSpecificationQueryVariables>(
    HYPERPARAMETER_SPECIFICATION,
    variables,
  ).then((r) => r.hyperparameterSpecification);
}
